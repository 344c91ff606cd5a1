/** Slug unpacking refuses anything that could write or point outside the dyno's directory. */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { entryProblem } from '../../lib/tar-guard.ts';
import { slugPool, type SlugPool } from '../../dyno-node/slug-pool.ts';
import { craftTarball, makeSlug, type RawEntry } from './fixtures.ts';

describe('entryProblem', () => {
  test('accepts files, dirs and links that stay inside', () => {
    assert.equal(entryProblem('Procfile', 'File'), undefined);
    assert.equal(entryProblem('./lib/a.js', 'File'), undefined);
    assert.equal(entryProblem('lib/', 'Directory'), undefined);
    assert.equal(entryProblem('bin/node', 'SymbolicLink', '../vendor/node'), undefined);
    assert.equal(entryProblem('a/b/c', 'Link', 'a/x'), undefined);
  });
  test('refuses escapes, absolute paths and devices', () => {
    assert.match(entryProblem('../evil', 'File')!, /\.\./);
    assert.match(entryProblem('a/../../evil', 'File')!, /\.\./);
    assert.match(entryProblem('/etc/passwd', 'File')!, /absolute/);
    assert.match(entryProblem('l', 'SymbolicLink', '/etc')!, /absolute/);
    assert.match(entryProblem('a/l', 'SymbolicLink', '../../etc')!, /outside/);
    assert.match(entryProblem('h', 'Link', '../x')!, /outside/);
    assert.match(entryProblem('dev', 'CharacterDevice')!, /not allowed/);
  });
});

describe('unpack (piscina worker)', () => {
  let pool: SlugPool;
  let work: string;
  before(async () => {
    pool = slugPool(1);
    work = await mkdtemp(`${tmpdir()}/dm-unpack-`);
  });
  after(async () => {
    await pool.close();
    await rm(work, { recursive: true, force: true });
  });

  const unpackRaw = async (name: string, entries: RawEntry[]) => {
    const file = `${work}/${name}.tgz`;
    await writeFile(file, craftTarball(entries));
    const dest = `${work}/${name}/app`;
    const { mkdir } = await import('node:fs/promises');
    await mkdir(`${work}/${name}`);
    return { file, dest, box: `${work}/${name}` };
  };

  test('a well-formed slug unpacks with its files and inner links, and hashes like sha256sum', async () => {
    const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': 'console.log(1)', 'lib/util.js': 'x' });
    const file = `${work}/good.tgz`;
    await writeFile(file, s.body);
    assert.equal(await pool.hash(file), s.slug.sha256);
    const dest = `${work}/good`;
    const r = await pool.unpack(file, dest);
    assert.ok(r.entries >= 3);
    assert.equal(await readFile(`${dest}/Procfile`, 'utf8'), 'web: node server.js\n');
    assert.equal(await readFile(`${dest}/lib/util.js`, 'utf8'), 'x');
  });

  test('inner symlinks are kept', async () => {
    const { file, dest } = await unpackRaw('inner', [
      { path: 'vendor/', type: '5' },
      { path: 'vendor/tool', type: '0', body: 'T' },
      { path: 'tool', type: '2', linkpath: 'vendor/tool' },
    ]);
    await pool.unpack(file, dest);
    assert.equal(await readlink(`${dest}/tool`), 'vendor/tool');
    assert.equal(await readFile(`${dest}/tool`, 'utf8'), 'T');
  });

  test('refuses a slug that would unpack past the size limit, before writing anything', async () => {
    const { file, dest, box } = await unpackRaw('bomb', [{ path: 'a', type: '0', body: 'x'.repeat(600) }, { path: 'b', type: '0', body: 'y'.repeat(600) }]);
    await assert.rejects(pool.unpack(file, dest, undefined, 1000), /unpacks to more than/);
    assert.deepEqual(await readdir(box), []);
  });

  const refused: [string, RawEntry[], RegExp][] = [
    ['dotdot', [{ path: 'ok', type: '0', body: 'ok' }, { path: '../evil', type: '0', body: 'pwned' }], /\.\./],
    ['deep-dotdot', [{ path: 'a/../../evil', type: '0', body: 'pwned' }], /\.\./],
    ['absolute', [{ path: '/tmp/dm-evil-abs', type: '0', body: 'pwned' }], /absolute/],
    ['symlink-out', [{ path: 'out', type: '2', linkpath: '../../..' }, { path: 'out/evil', type: '0', body: 'pwned' }], /outside/],
    ['symlink-abs', [{ path: 'etc', type: '2', linkpath: '/etc' }], /absolute/],
    ['hardlink-out', [{ path: 'h', type: '1', linkpath: '../evil' }], /outside/],
    ['device', [{ path: 'null', type: '3' }], /not allowed/],
    // Each link alone stays inside; resolved together, b climbs out.
    ['symlink-chain', [{ path: 'a', type: '2', linkpath: '.' }, { path: 'b', type: '2', linkpath: 'a/..' }], /links leave/],
  ];
  for (const [name, entries, why] of refused) {
    test(`refuses ${name}, and nothing is written outside`, async () => {
      const { file, dest, box } = await unpackRaw(name, entries);
      await assert.rejects(pool.unpack(file, dest), (err: Error) => {
        assert.match(err.message, /slug refused/);
        assert.match(err.message, why);
        return true;
      });
      assert.equal(existsSync(dest), false, 'the half-unpacked dir is removed');
      assert.deepEqual(await readdir(box), [], 'nothing next to the app dir');
      assert.equal(existsSync(`${work}/evil`), false);
      assert.equal(existsSync('/tmp/dm-evil-abs'), false);
    });
  }
});
