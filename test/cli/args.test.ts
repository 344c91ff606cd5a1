import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { commandLine, parseConfigKeys, parseConfigPairs, parseReleaseRef, parseScaleArgs, resolveScale } from '../../cli/args.ts';
import { CliError } from '../../cli/errors.ts';

describe('ps:scale arguments', () => {
  test('absolute, relative and sized forms', () => {
    assert.deepEqual(parseScaleArgs(['web=3', 'worker=1']), [{ type: 'web', quantity: 3 }, { type: 'worker', quantity: 1 }]);
    assert.deepEqual(parseScaleArgs(['web+2']), [{ type: 'web', delta: 2 }]);
    assert.deepEqual(parseScaleArgs(['web-1']), [{ type: 'web', delta: -1 }]);
    assert.deepEqual(parseScaleArgs(['web=2:Standard-2X']), [{ type: 'web', quantity: 2, size: 'standard-2x' }]);
    assert.deepEqual(parseScaleArgs(['web=:performance-m']), [{ type: 'web', size: 'performance-m' }]);
    assert.deepEqual(parseScaleArgs(['clock_1=0']), [{ type: 'clock_1', quantity: 0 }]);
  });

  test('relative changes resolve against the current formation and never go below zero', () => {
    const current = new Map([['web', 1], ['worker', 2]]);
    assert.deepEqual(resolveScale(parseScaleArgs(['web+2', 'worker-5', 'clock+1']), current), [
      { type: 'web', quantity: 3 },
      { type: 'worker', quantity: 0 },
      { type: 'clock', quantity: 1 },
    ]);
    assert.deepEqual(resolveScale(parseScaleArgs(['web=4:standard-2x']), current), [{ type: 'web', quantity: 4, size: 'standard-2x' }]);
  });

  test('bad arguments name the argument and the forms that work', () => {
    for (const bad of ['web', 'web=', 'web=-1', 'Web=1', 'web=two', '=3', 'web*2', 'web+', 'web=1:']) {
      assert.throws(() => parseScaleArgs([bad]), (e: Error) => e instanceof CliError && e.message.includes(`"${bad}"`) && e.message.includes('web=3'), bad);
    }
    assert.throws(() => parseScaleArgs([]), /Usage: dynomesh ps:scale/);
    assert.throws(() => parseScaleArgs(['web=1', 'web+1']), /given twice/);
  });
});

describe('config:set arguments', () => {
  test('the value is everything after the first =', () => {
    assert.deepEqual(parseConfigPairs(['DATABASE_URL=postgres://u:p@h/db?sslmode=require&x=1', 'EMPTY=', 'B64=YWJj==']), {
      DATABASE_URL: 'postgres://u:p@h/db?sslmode=require&x=1',
      EMPTY: '',
      B64: 'YWJj==',
    });
    assert.deepEqual(parseConfigPairs(['GREETING=hello world']), { GREETING: 'hello world' });
    assert.deepEqual(parseConfigPairs(['A=1', 'A=2']), { A: '2' });
  });

  test('a pair without = or with a bad name is refused with the form to use', () => {
    assert.throws(() => parseConfigPairs(['GREETING']), /"GREETING" is invalid; write it as KEY=value/);
    assert.throws(() => parseConfigPairs(['=value']), /write it as KEY=value/);
    assert.throws(() => parseConfigPairs(['1ABC=x']), /not a config var name/);
    assert.throws(() => parseConfigPairs([]), /Usage: dynomesh config:set/);
    assert.deepEqual(parseConfigKeys(['A', 'B_2']), ['A', 'B_2']);
    assert.throws(() => parseConfigKeys(['A=1']), /not a config var name/);
  });
});

describe('other arguments', () => {
  test('release references', () => {
    assert.equal(parseReleaseRef('v12'), 12);
    assert.equal(parseReleaseRef('V3'), 3);
    assert.equal(parseReleaseRef('7'), 7);
    for (const bad of ['v0', 'x', 'v1.2', '', '-1']) assert.throws(() => parseReleaseRef(bad), /is not a release; write it as v12/);
  });

  test('run argv becomes one shell command line', () => {
    assert.equal(commandLine(['bash']), 'bash');
    assert.equal(commandLine(['echo hi && ls']), 'echo hi && ls');
    assert.equal(commandLine(['node', '-e', 'console.log(1)']), `node -e 'console.log(1)'`);
    assert.equal(commandLine(['echo', "it's"]), `echo 'it'\\''s'`);
  });
});
