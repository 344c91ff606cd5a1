/** `dynomesh dyno-node` flags: Heroku's defaults, and clear errors for bad values. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dynoNodeCommand } from '../../dyno-node/command.ts';

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
