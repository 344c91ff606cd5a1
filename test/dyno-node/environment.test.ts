/** What a dyno process gets: its environment and argv (config + platform vars, the gate, .profile), and its per-app user name. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { commandArgv, dynoEnv, gatedArgv, stackPath } from '../../dyno-node/environment.ts';
import { userName } from '../../dyno-node/users.ts';

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

test('per-app user names fit useradd (32 chars) and stay distinct', () => {
  assert.equal(userName('shop'), 'dm-shop');
  const long = userName('a'.repeat(30));
  assert.ok(long.length <= 32);
  assert.notEqual(long, userName('a'.repeat(29) + 'b'));
});
