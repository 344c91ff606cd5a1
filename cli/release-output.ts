/**
 * Following a release command (Heroku's release phase) from the CLI: polls
 * `GET /apps/:app/releases/:v/output` and prints what is new until it finishes.
 * `releases:output`, and every command that makes a release (rollback,
 * config:set/unset, addons:create), use it, so their exit status says whether
 * the new release went live.
 */
import type { ApiClient } from './api.ts';
import { CliError } from './errors.ts';
import { info } from './output.ts';

export interface ReleaseOutputJson {
  version: number;
  status: 'pending' | 'succeeded' | 'failed';
  output: string;
  truncated_bytes: number;
  finished: boolean;
  exit_code: number | null;
  error: string | null;
}

/** Prints the output (all of it, then what is new) until the command has finished; returns the last state. */
export async function followReleaseOutput(client: ApiClient, app: string, version: number, out: NodeJS.WritableStream = process.stdout, pollMs = 1000): Promise<ReleaseOutputJson> {
  let printed = 0; // bytes of the whole output printed so far (truncated ones count as printed)
  for (;;) {
    const r = await client.get<ReleaseOutputJson>(`/apps/${app}/releases/${version}/output`);
    const buf = Buffer.from(r.output);
    const start = printed - r.truncated_bytes;
    if (start < 0 && printed > 0) out.write(`\n[... ${-start} bytes not kept ...]\n`);
    if (buf.length > Math.max(0, start)) out.write(buf.subarray(Math.max(0, start)));
    printed = r.truncated_bytes + buf.length;
    if (r.finished) return r;
    await new Promise((res) => setTimeout(res, pollMs));
  }
}

/** After a change made release `version` pending: follow its release command; throws when it failed. */
export async function awaitReleasePhase(client: ApiClient, app: string, version: number): Promise<void> {
  info('Release command declared: this new release will not be available until the command succeeds.');
  info('Running release command...');
  const r = await followReleaseOutput(client, app, version, process.stderr);
  if (r.status === 'succeeded') return info(`Release v${version} is live.`);
  throw new CliError(`${r.error ?? 'the release command failed'}; v${version} was not released. See \`dynomesh releases:output v${version} -a ${app}\``);
}
