/**
 * Loaded into every test process (scripts/test.sh `--import`): a test may spawn
 * only programs that a fresh machine gets from scripts/install-deps.sh, so a
 * green run here cannot hide a missing install step. Allowed: node itself, files
 * of this checkout or a temp dir, and files of the Debian packages that
 * install-deps.sh installs, their dependencies, and Debian's required set.
 * Anything else throws at the spawn, naming the program and its package.
 * Without dpkg (not Debian) the guard stays out of the way. Plain JavaScript: it
 * is also loaded into worker threads, where no TypeScript loader runs first.
 */
import childProcess from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, realpathSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DPKG_INFO = '/var/lib/dpkg/info';
const original = { ...childProcess };
/** Programs tests use only where present, skipping otherwise (so a fresh machine skips, not fails). */
const OPTIONAL = new Set(['systemd-analyze']);
/** @type {Set<string> | undefined} */
let allowedFiles;

/** Packages install-deps.sh installs, with everything they depend on, and Debian's required/essential set. */
/** @returns {Set<string>} */
function allowedPackages() {
  const want = original.execFileSync('bash', [join(ROOT, 'scripts/install-deps.sh'), '--packages'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  const rows = original.execFileSync('dpkg-query', ['-W', '-f=${Package}\t${Depends}, ${Pre-Depends}\t${Priority}\t${Essential}\t${Provides}\n'], { encoding: 'utf8' });
  const deps = new Map();
  const providers = new Map();
  const out = new Set();
  for (const row of rows.split('\n')) {
    const [name, depends = '', priority, essential, provides = ''] = row.split('\t');
    if (!name) continue;
    const names = (/** @type {string} */ list) => list.split(/[,|]/).map((d) => d.trim().split(/[\s:(]/)[0]).filter(Boolean);
    deps.set(name, names(depends));
    for (const p of names(provides)) providers.set(p, [...(providers.get(p) ?? []), name]);
    if (priority === 'required' || essential === 'yes') out.add(name);
  }
  const seen = new Set();
  const todo = [...want, ...out];
  while (todo.length) {
    const p = todo.pop();
    for (const real of deps.has(p) ? [p] : providers.get(p) ?? []) {
      if (seen.has(real)) continue;
      seen.add(real);
      out.add(real);
      for (const d of deps.get(real) ?? []) if (!seen.has(d)) todo.push(d);
    }
  }
  return out;
}

/** @param {Set<string>} packages */
function filesOf(packages) {
  const files = new Set();
  for (const p of packages) {
    for (const list of [`${p}.list`, `${p}:amd64.list`, `${p}:arm64.list`]) {
      if (!existsSync(join(DPKG_INFO, list))) continue;
      for (const f of readFileSync(join(DPKG_INFO, list), 'utf8').split('\n')) if (f) files.add(f);
    }
  }
  return files;
}

/** @param {string} cmd @param {NodeJS.ProcessEnv | undefined} env */
function onPath(cmd, env) {
  if (isAbsolute(cmd) || cmd.includes('/')) return resolve(cmd);
  for (const dir of (env?.PATH ?? process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir, cmd);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Throws when `cmd` is a program a fresh machine would not have after install-deps.sh. */
/** @param {unknown} cmd @param {unknown} options */
function check(cmd, options) {
  if (typeof cmd !== 'string' || cmd === process.execPath || cmd === 'node' || OPTIONAL.has(cmd)) return;
  const env = /** @type {{ env?: NodeJS.ProcessEnv } | undefined} */ (options)?.env;
  const path = onPath(cmd, env);
  if (!path || !existsSync(path)) return; // spawn reports ENOENT itself
  const real = realpathSync(path);
  if (real === realpathSync(process.execPath)) return;
  for (const own of [ROOT, realpathSync(tmpdir())]) if (real.startsWith(own + '/')) return;
  allowedFiles ??= filesOf(allowedPackages());
  // usrmerge: dpkg may list /bin/x for what PATH finds as /usr/bin/x
  const aliases = [path, real, path.replace(/^\/usr\//, '/'), real.replace(/^\/usr\//, '/'), '/usr' + path, '/usr' + real];
  if (aliases.some((a) => allowedFiles.has(a))) return;
  throw new Error(`this test spawns ${cmd} (${real}), which scripts/install-deps.sh does not install: add its Debian package there (a fresh machine has nothing else)`);
}

if (existsSync(DPKG_INFO) && process.env.DYNOMESH_SPAWN_GUARD !== 'off') {
  for (const fn of ['spawn', 'spawnSync', 'execFile', 'execFileSync']) {
    const inner = original[fn];
    const guarded = (...args) => {
      check(args[0], Array.isArray(args[1]) ? args[2] : args[1]);
      return inner(...args);
    };
    // promisify(execFile) resolves { stdout, stderr } through this symbol: keep it, guarded
    const custom = inner[promisify.custom];
    if (custom) {
      guarded[promisify.custom] = (...args) => {
        check(args[0], Array.isArray(args[1]) ? args[2] : args[1]);
        return custom(...args);
      };
    }
    childProcess[fn] = guarded;
  }
  syncBuiltinESMExports();
}
