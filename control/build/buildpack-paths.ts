/**
 * Buildpacks named by a path on the control host (`/srv/buildpacks/go`,
 * `file:///srv/buildpacks/go.git`) are limited to the one directory the
 * operator keeps them in (`--buildpack-dir`). A path elsewhere is refused
 * before anything looks at it, so a tenant cannot learn which paths exist on
 * the control host; a link inside the directory must not lead out of it.
 */
import { realpathSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const inside = (p: string, root: string) => p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);

/** Why `path` may not name a buildpack, or undefined when it is inside `buildpackDir` (and exists). */
export function pathProblem(path: string, buildpackDir: string | undefined): string | undefined {
  if (!buildpackDir) return 'buildpack paths on the control host are off; an operator can allow one directory of them with --buildpack-dir';
  const root = resolve(buildpackDir);
  const p = resolve(path);
  if (!inside(p, root)) return `buildpack paths must be under ${root} (--buildpack-dir)`;
  let real: string;
  try {
    real = realpathSync(p);
  } catch {
    return `buildpack directory ${path} does not exist on the control host`;
  }
  let realRoot = root;
  try {
    realRoot = realpathSync(root);
  } catch {
    /* checked by the operator at start */
  }
  if (!inside(real, realRoot)) return `buildpack ${path} leads outside ${root} (--buildpack-dir)`;
  return undefined;
}

/** The path a `file://` buildpack URL names (without its `#ref`). */
export function fileUrlPath(ref: string): string {
  return fileURLToPath(ref.split('#', 1)[0]!);
}

/** host and port a network buildpack URL connects to (`https://h/x.git`, `git://h/x`, `ssh://h/x`, `git@h:x`), if any. */
export function urlDestination(ref: string): { host: string; port: number } | undefined {
  const scp = /^[\w.-]+@([\w.-]+):/.exec(ref);
  if (scp) return { host: scp[1]!, port: 22 };
  try {
    const u = new URL(ref.split('#', 1)[0]!);
    const port = Number(u.port || { 'https:': 443, 'http:': 80, 'git:': 9418, 'ssh:': 22 }[u.protocol] || 0);
    return u.hostname && port ? { host: u.hostname, port } : undefined;
  } catch {
    return undefined;
  }
}
