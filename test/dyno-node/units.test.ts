/** Small pieces of the agent: crash policy, dyno environment, output tail, user names, flags. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { CrashPolicy, HEROKU_COOL_OFFS_MS } from '../../dyno-node/backoff.ts';
import { commandArgv, dynoEnv, gatedArgv, stackPath } from '../../dyno-node/environment.ts';
import { FileTail, MAX_LINE, RingSink } from '../../dyno-node/output.ts';
import { userName } from '../../dyno-node/users.ts';
import { dynoNodeCommand } from '../../dyno-node/command.ts';
import { eventually } from '../support/etcd.ts';

describe('CrashPolicy', () => {
  test('Heroku schedule: at once, then 20, 40, 60, 180, 320, 320 min', () => {
    const p = new CrashPolicy();
    const t0 = 1_000_000;
    const delays = Array.from({ length: 7 }, () => p.crashed(t0, t0 + 1000));
    assert.deepEqual(delays, [0, ...HEROKU_COOL_OFFS_MS, HEROKU_COOL_OFFS_MS.at(-1)]);
    assert.deepEqual(HEROKU_COOL_OFFS_MS.map((m) => m / 60_000), [20, 40, 60, 180, 320]);
  });
  test('a good run resets the count; reset() does too', () => {
    const p = new CrashPolicy([100, 200], 5000);
    assert.equal(p.crashed(0, 10), 0);
    assert.equal(p.crashed(0, 20), 100);
    assert.equal(p.crashed(100, 100 + 6000), 0, 'stayed up 6 s > good run');
    assert.equal(p.crashed(0, 10), 100);
    p.reset();
    assert.equal(p.crashed(0, 10), 0);
  });
});

describe('dyno environment', () => {
  test('exactly config + platform vars; platform vars win; PORT only for web', () => {
    const env = dynoEnv({ config: { A: '1', DYNO: 'fake', PORT: '1' }, dyno: 'worker.2', home: '/d' });
    assert.deepEqual(env, { HOME: '/d', PATH: stackPath(), A: '1', DYNO: 'worker.2', PS: 'worker.2' });
    assert.equal(dynoEnv({ config: {}, dyno: 'web.1', home: '/d', port: 5000 }).PORT, '5000');
    assert.equal(dynoEnv({ config: { PATH: '/app/bin:/bin' }, dyno: 'web.1', home: '/d' }).PATH, '/app/bin:/bin', 'config may set PATH');
    assert.ok(stackPath().split(':').includes(process.execPath.replace(/\/node$/, '')));
  });
  test('commands run through /bin/sh -c, sourcing .profile.d when the slug has one', () => {
    const dir = execFileSync('mktemp', ['-d']).toString().trim();
    try {
      execFileSync('mkdir', [`${dir}/.profile.d`]);
      execFileSync('sh', ['-c', `echo 'export FROM_PROFILE=yes' > ${dir}/.profile.d/x.sh`]);
      const argv = gatedArgv(commandArgv('echo "$FROM_PROFILE $1"', true));
      const out = execFileSync(argv[0]!, argv.slice(1), { cwd: dir, input: 'go\n', env: { PATH: '/usr/bin:/bin' } }).toString();
      assert.equal(out, 'yes \n');
      assert.deepEqual(commandArgv('node server.js', false), ['/bin/sh', '-c', 'node server.js']);
    } finally {
      execFileSync('rm', ['-rf', dir]);
    }
  });
  test('the gate exits without running the command when the agent never opens it', () => {
    const argv = gatedArgv(['/bin/sh', '-c', 'echo ran']);
    const r = (() => {
      try {
        execFileSync(argv[0]!, argv.slice(1), { input: '' });
        return 0;
      } catch (err) {
        return (err as { status: number }).status;
      }
    })();
    assert.equal(r, 111);
  });
});

describe('output', () => {
  test('FileTail splits lines, joins partial writes, splits over-long lines, keeps utf-8 whole', async () => {
    const dir = await mkdtemp(`${tmpdir()}/dm-tail-`);
    const file = `${dir}/out.log`;
    await writeFile(file, '');
    const lines: string[] = [];
    const tail = new FileTail(file, (l) => lines.push(l), 20);
    await tail.start();
    await appendFile(file, 'one\ntw');
    await appendFile(file, 'o\r\nthree é');
    await eventually(() => lines.length >= 2, 2000, 'two lines');
    await appendFile(file, '\n' + 'x'.repeat(MAX_LINE + 5) + '\nunterminated');
    await tail.stop();
    assert.deepEqual(lines, ['one', 'two', 'three é', 'x'.repeat(MAX_LINE), 'xxxxx', 'unterminated']);
    await rm(dir, { recursive: true, force: true });
  });
  test('RingSink keeps the last N per dyno', () => {
    const r = new RingSink(3);
    for (let i = 0; i < 5; i++) r.write({ app: 'a', dyno: 'web.1', source: 'app', ts: i, line: String(i) });
    r.write({ app: 'a', dyno: 'web.2', source: 'app', ts: 0, line: 'other' });
    assert.deepEqual(r.lines('a', 'web.1').map((l) => l.line), ['2', '3', '4']);
    assert.equal(r.lines('a', 'web.2').length, 1);
  });
});

test('per-app user names fit useradd (32 chars) and stay distinct', () => {
  assert.equal(userName('shop'), 'dm-shop');
  const long = userName('a'.repeat(30));
  assert.ok(long.length <= 32);
  assert.notEqual(long, userName('a'.repeat(29) + 'b'));
});

test('dyno-node flags: Heroku defaults, clear errors for bad values', () => {
  const cmd = dynoNodeCommand().exitOverride().configureOutput({ writeErr: () => undefined });
  const opts = cmd.parseOptions(['--etcd', 'http://127.0.0.1:2379']);
  assert.deepEqual(opts.unknown, []);
  const o = cmd.opts();
  assert.equal(o.bootTimeout, 60_000);
  assert.equal(o.stopTimeout, 30_000);
  assert.equal(o.advertise, '127.0.0.1');
  assert.throws(() => dynoNodeCommand().exitOverride().configureOutput({ writeErr: () => undefined }).parse(['--boot-timeout', 'soon'], { from: 'user' }), /not a duration/);
  assert.throws(() => dynoNodeCommand().exitOverride().configureOutput({ writeErr: () => undefined }).parse(['--cool-off', '1m,x'], { from: 'user' }), /not a duration/);
  assert.throws(() => dynoNodeCommand().exitOverride().configureOutput({ writeErr: () => undefined }).parse(['--memory-enforcement', 'magic'], { from: 'user' }), /Allowed choices/);
});
