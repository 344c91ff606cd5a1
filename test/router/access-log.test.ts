/**
 * The router's log lines: Heroku's router format, and the batched access log that
 * writes the same JSON records pino would, at the logger's level.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { AccessLog, formatLine } from '../../router/log-line.ts';
import { ERRORS } from '../../router/errors.ts';

describe('log line', () => {
  test('Heroku router format, info and error', () => {
    const base = { app: 'a', method: 'GET', path: '/x "y"', host: 'a.localhost', requestId: 'rid', fwd: '1.2.3.4', dyno: 'web.1', connectMs: 1, serviceMs: 7, status: 200, bytes: 13, code: null, desc: null };
    assert.equal(formatLine(base), 'at=info method=GET path="/x \\"y\\"" host=a.localhost request_id=rid fwd="1.2.3.4" dyno=web.1 connect=1ms service=7ms status=200 bytes=13 protocol=http');
    assert.match(formatLine({ ...base, code: 'H12', desc: ERRORS.H12.desc, status: 503 }), /^at=error code=H12 desc="Request timeout" method=GET .* status=503 /);
    for (const code of ['H10', 'H12', 'H13', 'H14', 'H18', 'H80', 'H99'] as const) assert.equal(ERRORS[code].status, 503);
  });
});

describe('access log', () => {
  test('writes the same JSON records as pino, batched into one write', async () => {
    const writes: string[] = [];
    const dest = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb(); } });
    const log = pino({ base: { pid: 7 } }, dest).child({ component: 'router' });
    const a = new AccessLog(log);
    a.write('shop', 'at=info method=GET path="/\\"q\\"" status=200', false);
    a.write('', 'at=error code=H12 desc="Request timeout"', true);
    assert.equal(writes.length, 0); // batched
    a.flush();
    await new Promise((r) => setImmediate(r));
    assert.equal(writes.length, 1);
    log.warn({ app: '', line: 'at=error code=H12 desc="Request timeout"' }, 'router-request');
    await new Promise((r) => setImmediate(r));
    const ours = writes[0]!.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    const theirs = JSON.parse(writes[1]!) as Record<string, unknown>;
    assert.equal(ours.length, 2);
    assert.deepEqual(Object.keys(ours[1]!), Object.keys(theirs));
    assert.deepEqual({ ...ours[1], time: 0 }, { ...theirs, time: 0 });
    assert.deepEqual({ ...ours[0], time: 0 }, { level: 30, time: 0, pid: 7, component: 'router', app: 'shop', line: 'at=info method=GET path="/\\"q\\"" status=200', msg: 'router-request' });
  });

  test('levels: info lines are dropped when the logger is at warn', () => {
    const writes: string[] = [];
    const dest = new Writable({ write(chunk, _e, cb) { writes.push(String(chunk)); cb(); } });
    const a = new AccessLog(pino({ level: 'warn' }, dest));
    a.write('x', 'at=info', false);
    a.flush();
    assert.equal(writes.length, 0);
  });
});
