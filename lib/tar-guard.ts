/**
 * What an app tarball may contain (a slug a dyno-node unpacks, a build's
 * source_blob the control unpacks): regular files, directories and links that
 * stay inside the app directory. Anything else refuses the whole archive, so a
 * crafted tarball cannot write (or point) outside the directory it lands in.
 * The one guard for both: daemons import it from lib/.
 *
 * Two checks: `entryProblem` reads each header before anything is written, and
 * `escapingLinks` walks the unpacked tree, because a chain of individually
 * innocent links (`a -> .`, `b -> a/..`) only escapes once resolved.
 */
import { lstat, readdir, readlink, realpath } from 'node:fs/promises';
import { posix, sep } from 'node:path';

const ALLOWED = new Set(['File', 'OldFile', 'ContiguousFile', 'Directory', 'SymbolicLink', 'Link']);
/** Headers that carry metadata, not files; tar applies or skips them itself. */
const META = new Set(['ExtendedHeader', 'GlobalExtendedHeader', 'NextFileHasLongPath', 'NextFileHasLongLinkpath', 'OldExtendedHeader']);

/** Lexically inside the root: relative, and no `..` that climbs above it. */
function staysInside(rel: string): boolean {
  if (rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) return false;
  const n = posix.normalize(rel);
  return n !== '..' && !n.startsWith('../');
}

/** Why a tar entry is refused, or undefined when it is fine. */
export function entryProblem(path: string, type: string, linkpath?: string): string | undefined {
  if (META.has(type)) return undefined;
  if (!ALLOWED.has(type)) return `${path}: entry type ${type} is not allowed in an app archive`;
  if (path.includes('\0')) return `${JSON.stringify(path)}: NUL in path`;
  if (path.startsWith('/')) return `${path}: absolute path`;
  if (path.split('/').includes('..')) return `${path}: path contains ".."`;
  if (type === 'SymbolicLink') {
    const target = linkpath ?? '';
    if (target.startsWith('/')) return `${path}: symlink to absolute path ${target}`;
    if (!staysInside(posix.join(posix.dirname(path), target))) return `${path}: symlink ${target} points outside the app dir`;
  }
  if (type === 'Link') {
    const target = linkpath ?? '';
    if (!staysInside(target) || target.split('/').includes('..')) return `${path}: hard link to ${target} outside the app dir`;
  }
  return undefined;
}

function inside(root: string, p: string): boolean {
  return p === root || p.startsWith(root + sep);
}

/**
 * Resolves a link target through the file system (so links in its path are
 * followed) without lexical shortcuts; for a dangling target, resolves the
 * longest existing prefix and checks the rest has no `..`.
 */
async function resolvesInside(root: string, linkDir: string, target: string): Promise<boolean> {
  let head = `${linkDir}/${target}`;
  const rest: string[] = [];
  for (;;) {
    try {
      const real = await realpath(head);
      return inside(root, real) && !rest.includes('..');
    } catch {
      const i = head.lastIndexOf('/');
      if (i <= 0) return false;
      rest.unshift(head.slice(i + 1));
      head = head.slice(0, i);
    }
  }
}

/** Every symlink under `root` whose resolution leaves `root` (root must be a real path). */
export async function escapingLinks(root: string): Promise<string[]> {
  const bad: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const d of await readdir(dir, { withFileTypes: true })) {
      const p = `${dir}/${d.name}`;
      if (d.isSymbolicLink()) {
        if (!(await resolvesInside(root, dir, await readlink(p)))) bad.push(p.slice(root.length + 1));
      } else if (d.isDirectory()) {
        await walk(p);
      } else if (!d.isFile()) {
        bad.push(p.slice(root.length + 1));
      }
    }
  };
  if (!(await lstat(root)).isDirectory()) throw new Error(`${root} is not a directory`);
  await walk(root);
  return bad;
}
