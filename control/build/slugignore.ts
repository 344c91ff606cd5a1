/**
 * `.slugignore`: removes matching paths from the build dir before the buildpacks
 * run. Heroku's rules: one pattern per line, `#` comments, gitignore-like globs
 * (`*`, `?`, `**`), a pattern with a `/` is anchored at the app root, one
 * without matches a name at any depth; no `!` negation.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface SlugignoreRule {
  pattern: string;
  re: RegExp;
}

function globToRegex(glob: string): string {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return re;
}

export function parseSlugignore(text: string): { rules: SlugignoreRule[]; warnings: string[] } {
  const rules: SlugignoreRule[] = [];
  const warnings: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('!')) {
      warnings.push(`.slugignore: negation is not supported, ignoring "${line}"`);
      continue;
    }
    let p = line.replace(/\/+$/, '');
    if (p === '' || p === '.' || p === '/') continue;
    const anchored = p.includes('/');
    p = p.replace(/^\/+/, '').replace(/^\.\//, '');
    const body = globToRegex(p);
    rules.push({ pattern: line, re: new RegExp(anchored ? `^${body}$` : `(?:^|/)${body}$`) });
  }
  return { rules, warnings };
}

/** Deletes what the rules match under `root` (a matched directory goes whole). Returns the removed paths. */
export async function applySlugignore(root: string, rules: SlugignoreRule[]): Promise<string[]> {
  const removed: string[] = [];
  if (rules.length === 0) return removed;
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true });
    for (const e of entries) {
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (rules.some((r) => r.re.test(path))) {
        await rm(join(root, path), { recursive: true, force: true });
        removed.push(path);
      } else if (e.isDirectory()) {
        await walk(path);
      }
    }
  };
  await walk('');
  return removed;
}

/** Reads `<root>/.slugignore` (if any) and applies it. */
export async function slugignore(root: string): Promise<{ removed: string[]; warnings: string[] }> {
  const text = await readFile(join(root, '.slugignore'), 'utf8').catch(() => undefined);
  if (text === undefined) return { removed: [], warnings: [] };
  const { rules, warnings } = parseSlugignore(text);
  return { removed: await applySlugignore(root, rules), warnings };
}
