/**
 * Tokens never cross a network in clear text (shared/reference/threat-model.md):
 * the CLI refuses to send its API token over plain HTTP to anything but this
 * machine (loopback addresses, `localhost`, `*.localhost`), unless the user says
 * `--insecure` (any command) or DYNOMESH_INSECURE=1 (also for git's credential helper).
 */
import { CliError } from './errors.ts';

export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  return h === 'localhost' || h.endsWith('.localhost') || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

export function insecureAllowed(): boolean {
  return process.env.DYNOMESH_INSECURE === '1' || process.env.DYNOMESH_INSECURE === 'true';
}

/** Why a token may not go to `url`, or null when it may. */
export function plainHttpRefusal(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null; // the request itself reports a bad URL
  }
  if (u.protocol !== 'http:' || isLoopbackHost(u.hostname) || insecureAllowed()) return null;
  return `refusing to send your API token over plain HTTP to ${u.host}: use the platform's https:// URL (dynomesh login --api https://...), or pass --insecure (DYNOMESH_INSECURE=1) if this network is trusted`;
}

export function assertTokenTransport(url: string): void {
  const why = plainHttpRefusal(url);
  if (why) throw new CliError(why);
}

/** `--insecure` anywhere on the command line: taken out and remembered in DYNOMESH_INSECURE for this process and its children. */
export function takeInsecureFlag(argv: string[]): string[] {
  if (!argv.includes('--insecure')) return argv;
  process.env.DYNOMESH_INSECURE = '1';
  return argv.filter((a) => a !== '--insecure');
}
