/** `logs` filters: defaults, bounds and what each matches. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { matcher, parseQuery } from '../../control/logs/filter.ts';
import { ControlError } from '../../control/errors.ts';

describe('filters', () => {
  const q = (o: Record<string, string>) => parseQuery((n) => o[n]);
  test('defaults, bounds and what each filter matches', () => {
    assert.deepEqual(q({}), { lines: 100, tail: false });
    assert.equal(q({ lines: '1500' }).lines, 1500);
    assert.throws(() => q({ lines: '1501' }), ControlError);
    assert.throws(() => q({ lines: '-1' }), ControlError);
    assert.throws(() => q({ tail: 'maybe' }), ControlError);
    assert.throws(() => q({ dyno: 'Web 1' }), ControlError);
    const r = (source: 'app' | 'heroku', dyno: string) => ({ app: 'a', source, dyno, ts: 1, line: '' });
    const api = matcher(q({ source: 'api' }))!;
    assert.deepEqual([api(r('app', 'api')), api(r('app', 'web.1'))], [true, false]);
    const app = matcher(q({ source: 'app' }))!;
    assert.deepEqual([app(r('app', 'web.1')), app(r('app', 'api')), app(r('heroku', 'router'))], [true, true, false]);
    const web = matcher(q({ dyno: 'web' }))!;
    assert.deepEqual([web(r('app', 'web.1')), web(r('heroku', 'web.12')), web(r('app', 'worker.1')), web(r('app', 'webhook.1'))], [true, true, false, false]);
    const one = matcher(q({ dyno: 'web.1' }))!;
    assert.deepEqual([one(r('app', 'web.1')), one(r('app', 'web.12'))], [true, false]);
    assert.equal(matcher(q({})), undefined);
  });
});
