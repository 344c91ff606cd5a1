/** Unit tests: Procfile, bin/release YAML, .slugignore, buildpack references, build output fan-out. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseProcfile } from '../../control/build/procfile.ts';
import { defaultProcessTypes, parseReleaseYaml, ReleaseYamlError } from '../../control/build/release-yaml.ts';
import { applySlugignore, parseSlugignore } from '../../control/build/slugignore.ts';
import { buildpackRefProblem, builtinName } from '../../control/build/buildpacks.ts';
import { BuildOutput } from '../../control/build/output.ts';

describe('Procfile', () => {
  test('type: command per line, as Heroku parses it', () => {
    const r = parseProcfile('web: node server.js --port $PORT\r\n\n# a comment\nworker:bundle exec sidekiq\n  clock:  sleep 1  \nnot a process line\nweb: npm start\n');
    assert.deepEqual(r.types, { web: 'npm start', worker: 'bundle exec sidekiq', clock: 'sleep 1' });
    assert.deepEqual(r.problems, []);
  });
  test('types a dyno name cannot hold are reported', () => {
    const r = parseProcfile('Web: x\nmy-worker: y\n');
    assert.deepEqual(r.types, {});
    assert.equal(r.problems.length, 2);
    assert.match(r.problems[0]!, /"Web" is not valid/);
  });
});

describe('bin/release YAML', () => {
  test('default_process_types, addons list, config_vars, comments and quotes', () => {
    const text = '---\naddons:\n  - heroku-postgresql:mini\n  - "redis"\nconfig_vars:\n  PATH: /app/bin:/usr/bin\ndefault_process_types:\n  web: "bin/start --port $PORT"\n  worker: \'rake jobs:work\'  \n  clock: ruby clock.rb # every minute\n';
    const y = parseReleaseYaml(text);
    assert.deepEqual(y.addons, ['heroku-postgresql:mini', 'redis']);
    assert.deepEqual(y.config_vars, { PATH: '/app/bin:/usr/bin' });
    assert.deepEqual(defaultProcessTypes(text), { web: 'bin/start --port $PORT', worker: 'rake jobs:work', clock: 'ruby clock.rb' });
  });
  test('empty and flow forms', () => {
    assert.deepEqual(defaultProcessTypes('---\n'), {});
    assert.deepEqual(defaultProcessTypes('default_process_types: {}\n'), {});
    assert.deepEqual(defaultProcessTypes('default_process_types: {web: npm start, worker: node w.js}\n'), { web: 'npm start', worker: 'node w.js' });
    assert.deepEqual(defaultProcessTypes(''), {});
    assert.deepEqual(defaultProcessTypes('addons: []\n'), {});
  });
  test('what it cannot read is refused with the line', () => {
    assert.throws(() => parseReleaseYaml('web: x\n  bad: indent\n'), ReleaseYamlError);
    assert.throws(() => defaultProcessTypes('default_process_types:\n  web:\n    deep: x\n'), /default_process_types\.web must be a command, not a map/);
    assert.throws(() => defaultProcessTypes('default_process_types: npm start\n'), /must be a map/);
    assert.throws(() => parseReleaseYaml('just text\n'), /line 1/);
    assert.throws(() => parseReleaseYaml('addons: []\nconfig_vars: {}\naddons: [redis]\n'), /^ReleaseYamlError: line 3: Map keys must be unique$/);
  });
  test('what third-party buildpacks print: commas in commands, quoted strings, nested maps, comments', () => {
    const text = [
      '---',
      '# printed by a Ruby buildpack',
      'addons: [heroku-postgresql, "heroku-redis:mini"]',
      'config_vars:',
      '  LANG: en_US.UTF-8',
      '  RACK_ENV: "production"',
      '  ENABLED: yes',
      'default_process_types:',
      '  web: "bundle exec puma -C config/puma.rb -b tcp://0.0.0.0:$PORT,unix:///tmp/puma.sock"',
      "  worker: 'sidekiq -q default,2 -q mailers,1'",
      '  console: bin/rails console  # a comment',
      'metadata:',
      '  build:',
      '    tools: {ruby: 3.3.0, bundler: [2.5, 2.4]}',
      '',
    ].join('\n');
    const y = parseReleaseYaml(text);
    assert.deepEqual(y.addons, ['heroku-postgresql', 'heroku-redis:mini']);
    assert.deepEqual(y.config_vars, { LANG: 'en_US.UTF-8', RACK_ENV: 'production', ENABLED: 'yes' });
    assert.deepEqual(y.metadata, { build: { tools: { ruby: '3.3.0', bundler: [2.5, 2.4] } } });
    assert.deepEqual(defaultProcessTypes(text), {
      web: 'bundle exec puma -C config/puma.rb -b tcp://0.0.0.0:$PORT,unix:///tmp/puma.sock',
      worker: 'sidekiq -q default,2 -q mailers,1',
      console: 'bin/rails console',
    });
  });
});

describe('.slugignore', () => {
  test('unanchored names match at any depth, anchored paths at the root, globs, no negation', async () => {
    const root = mkdtempSync(join(tmpdir(), 'dm-slugignore-'));
    try {
      for (const f of ['a.psd', 'img/b.psd', 'docs/x.md', 'src/docs/keep-nested.md', 'spec/fixtures/big.bin', 'spec/unit.js', 'log/1.log', 'deep/a/b/c.tmp', 'keep.txt']) {
        mkdirSync(join(root, f, '..'), { recursive: true });
        writeFileSync(join(root, f), 'x');
      }
      const { rules, warnings } = parseSlugignore('# comment\n*.psd\n/docs\nspec/fixtures/\nlog\n**/*.tmp\n!keep.txt\n\n');
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]!, /negation is not supported/);
      const removed = (await applySlugignore(root, rules)).sort();
      assert.deepEqual(removed, ['a.psd', 'deep/a/b/c.tmp', 'docs', 'img/b.psd', 'log', 'spec/fixtures'].sort());
      assert.ok(readdirSync(join(root, 'src/docs')).includes('keep-nested.md'), '/docs is anchored at the root');
      assert.equal(readFileSync(join(root, 'keep.txt'), 'utf8'), 'x');
      assert.ok(readdirSync(join(root, 'spec')).includes('unit.js'));
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('buildpack references', () => {
  test('built-ins, paths and git URLs; everything else refused with what to use', () => {
    assert.equal(builtinName('heroku/nodejs'), 'nodejs');
    assert.equal(builtinName('python'), 'python');
    assert.equal(builtinName('heroku/ruby'), undefined);
    assert.equal(buildpackRefProblem('heroku/static'), undefined);
    assert.equal(buildpackRefProblem('https://github.com/heroku/heroku-buildpack-nodejs.git#v250'), undefined);
    assert.equal(buildpackRefProblem('git@github.com:me/bp.git'), undefined);
    assert.match(buildpackRefProblem('heroku/ruby')!, /not a buildpack: use a built-in/);
    const root = mkdtempSync(join(tmpdir(), 'dm-bps-'));
    const dir = join(root, 'bp');
    try {
      // Paths only under the operator's --buildpack-dir, and outside it the same answer whether the path exists or not.
      assert.match(buildpackRefProblem('/etc')!, /buildpack paths on the control host are off/);
      assert.equal(buildpackRefProblem('/etc', root), buildpackRefProblem('/definitely/missing', root));
      assert.match(buildpackRefProblem('/etc', root)!, /^buildpack paths must be under \/.*dm-bps-.* \(--buildpack-dir\)$/);
      assert.match(buildpackRefProblem(`${root}/../../etc`, root)!, /must be under/);
      assert.match(buildpackRefProblem('file:///etc/bp.git', root)!, /must be under/);
      assert.match(buildpackRefProblem(join(root, 'missing'), root)!, /does not exist/);
      symlinkSync('/etc', join(root, 'out'));
      assert.match(buildpackRefProblem(join(root, 'out'), root)!, /leads outside/);
      mkdirSync(join(dir, 'bin'), { recursive: true });
      writeFileSync(join(dir, 'bin/detect'), '#!/bin/sh\n', { mode: 0o755 });
      assert.match(buildpackRefProblem(dir, root)!, /no executable bin\/compile/);
      writeFileSync(join(dir, 'bin/compile'), '#!/bin/sh\n', { mode: 0o755 });
      assert.equal(buildpackRefProblem(dir, root), undefined);
      assert.equal(buildpackRefProblem(`file://${dir}`, root), undefined);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describe('build output', () => {
  test('a follower gets what was written so far, then each chunk, then the end; the file keeps it all', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-out-'));
    try {
      const out = new BuildOutput(join(dir, 'b.log'), 1000);
      out.write('one\n');
      const got: (string | null)[] = [];
      out.follow((c) => got.push(c === null ? null : c.toString()));
      out.write('two\n');
      out.write('x'.repeat(2000));
      out.write('dropped\n');
      await out.end();
      assert.equal(got[0], 'one\n');
      assert.equal(got[1], 'two\n');
      assert.match(got[2]!, /^x+\n !     build output over 1000 bytes; the rest is not kept\n$/);
      assert.equal(got[got.length - 1], null);
      const file = readFileSync(join(dir, 'b.log'), 'utf8');
      assert.ok(file.startsWith('one\ntwo\nxxx') && !file.includes('dropped'));
      const late: (string | null)[] = [];
      out.follow((c) => late.push(c === null ? null : c.toString()));
      assert.equal(late[late.length - 1], null, 'a finished output ends at once');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('slug packing (the piscina worker\'s function, called directly)', () => {
  test('files at the root, modes kept, escaping links and fifos reported', async () => {
    const { pack } = await import('../../control/build/pack-worker.ts');
    const { execFileSync } = await import('node:child_process');
    const { symlinkSync, chmodSync, statSync } = await import('node:fs');
    const tar = await import('tar');
    const dir = mkdtempSync(join(tmpdir(), 'dm-pack-'));
    const out = mkdtempSync(join(tmpdir(), 'dm-pack-out-'));
    try {
      mkdirSync(join(dir, 'bin'));
      writeFileSync(join(dir, 'Procfile'), 'web: bin/run\n');
      writeFileSync(join(dir, 'bin/run'), '#!/bin/sh\n');
      chmodSync(join(dir, 'bin/run'), 0o755);
      symlinkSync('run', join(dir, 'bin/start'));
      symlinkSync('/usr/bin/node', join(dir, 'bin/node'));
      execFileSync('mkfifo', [join(dir, 'pipe')]);
      const r = await pack({ dir, file: join(out, 's.tgz') });
      assert.deepEqual(r.problems, ['bin/node -> /usr/bin/node']);
      assert.deepEqual(r.skipped, ['pipe']);
      const paths: string[] = [];
      await tar.t({ file: join(out, 's.tgz'), onReadEntry: (e) => void paths.push(e.path) });
      assert.deepEqual(paths.sort(), ['Procfile', 'bin/', 'bin/node', 'bin/run', 'bin/start']);
      mkdirSync(join(out, 'x'));
      await tar.x({ file: join(out, 's.tgz'), cwd: join(out, 'x') });
      assert.equal(statSync(join(out, 'x/bin/run')).mode & 0o777, 0o755);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }
  });
});
