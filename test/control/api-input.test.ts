/** What the Platform API accepts in a body before anything is written: config vars, formation updates, one-off requests, app names. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfigPatch, describeConfigChange } from '../../control/config-vars.ts';
import { normalizeSize, parseUpdates } from '../../control/formation.ts';
import { ControlError } from '../../control/errors.ts';
import { randomAppName } from '../../control/apps.ts';
import { isAppName } from '../../cluster/keys.ts';
import { parseOneOff } from '../../control/one-off.ts';

const status = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof ControlError ? err.status : -1;
  }
  return 0;
};

describe('config vars', () => {
  test('release descriptions as Heroku writes them', () => {
    assert.equal(describeConfigChange(['FOO', 'BAR'], []), 'Set FOO, BAR config vars');
    assert.equal(describeConfigChange([], ['FOO']), 'Remove FOO config vars');
    assert.equal(describeConfigChange(['A'], ['B']), 'Set A config vars and remove B config vars');
  });

  test('key and value rules', () => {
    const ok = { _X: 'a', Abc_9: '', N: 3, B: true, GONE: null } as Record<string, unknown>;
    checkConfigPatch(ok);
    assert.deepEqual(ok, { _X: 'a', Abc_9: '', N: '3', B: 'true', GONE: null });
    for (const bad of [{ __X: 'x' }, { '9A': 'x' }, { 'A-B': 'x' }, { '': 'x' }, { 'A B': 'x' }, { A: {} }, { A: ['x'] }, [], 'str', null]) {
      assert.equal(status(() => checkConfigPatch(bad)), 422, JSON.stringify(bad));
    }
  });
});

describe('formation updates', () => {
  test('batch and per-type bodies', () => {
    assert.deepEqual(parseUpdates({ updates: [{ type: 'web', quantity: 3 }, { type: 'worker', size: 'Standard-2X' }] }), [
      { type: 'web', quantity: 3 },
      { type: 'worker', size: 'standard-2x' },
    ]);
    assert.deepEqual(parseUpdates({ quantity: '2' }, 'web'), [{ type: 'web', quantity: 2 }]);
    for (const bad of [{}, { updates: [] }, { updates: [{ quantity: 1 }] }, { updates: [{ type: 'web' }] }, { updates: [{ type: 'web', quantity: 1.5 }] }, { updates: [{ type: 'web', quantity: 101 }] }]) {
      assert.equal(status(() => parseUpdates(bad)), 422, JSON.stringify(bad));
    }
    assert.equal(status(() => normalizeSize('xl')), 422);
  });
});

describe('one-off requests', () => {
  test('command required; env refused; attach defaults to detached', () => {
    assert.deepEqual(parseOneOff({ command: 'bash' }), { command: 'bash', attach: false });
    assert.deepEqual(parseOneOff({ command: 'bash', attach: true, size: 'STANDARD-2X' }), { command: 'bash', attach: true, size: 'standard-2x' });
    for (const bad of [{}, { command: '' }, { command: 'x', env: { A: '1' } }, { command: 'x', attach: 'yes' }, { command: 'x', type: 'Bad' }]) {
      assert.equal(status(() => parseOneOff(bad)), 422, JSON.stringify(bad));
    }
  });
});

describe('app names', () => {
  test('random names are valid app names', () => {
    for (let i = 0; i < 50; i++) assert.ok(isAppName(randomAppName()));
  });
});
