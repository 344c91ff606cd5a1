/** Pure parts of the log pipeline: format, splitting, frames, owners, the ring, filters, drain formats. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRecord, formatTime, l10, parseLineTime, splitLine } from '../../logplex/record.ts';
import { ACK, BATCH, encodeFrame, FrameError, FrameReader, validWire } from '../../logplex/wire.ts';
import { ownerOf, type LogMember } from '../../logplex/owners.ts';
import { AppLog, LogStore, type Entry } from '../../control/logs/store.ts';
import { matcher, parseQuery } from '../../control/logs/filter.ts';
import { octetFrame, syslogMessage, logplexMessage } from '../../control/logs/drains/rfc5424.ts';
import { signSession, verifySession } from '../../control/logs/session-token.ts';
import { checkDrainUrl } from '../../control/logs/routes.ts';
import { ControlError } from '../../control/errors.ts';

const T = Date.UTC(2026, 10, 26, 10, 0, 0) * 1000 + 123456;

describe('record', () => {
  test('Heroku format with microseconds, UTC', () => {
    assert.equal(formatTime(T), '2026-11-26T10:00:00.123456+00:00');
    assert.equal(formatRecord({ app: 'a', source: 'app', dyno: 'web.1', ts: T, line: 'hello' }), '2026-11-26T10:00:00.123456+00:00 app[web.1]: hello');
    assert.equal(formatRecord({ app: 'a', source: 'heroku', dyno: 'router', ts: T + 1, line: 'at=info' }), '2026-11-26T10:00:00.123457+00:00 heroku[router]: at=info');
    assert.equal(parseLineTime('2026-11-26T10:00:00.123456+00:00 app[web.1]: x'), T);
    assert.equal(parseLineTime('garbage'), undefined);
    assert.match(l10(5, T), /^Error L10 \(output buffer overflow\): 5 messages dropped since 2026-11-26T10:00:00\.123456\+00:00\.$/);
  });

  test('lines over 10,000 bytes split without cutting a character', () => {
    assert.deepEqual(splitLine('short'), ['short']);
    assert.deepEqual(splitLine('a'.repeat(10_000)), ['a'.repeat(10_000)]);
    assert.deepEqual(splitLine('a'.repeat(25_000)).map((s) => s.length), [10_000, 10_000, 5000]);
    // 'é' is 2 bytes: 9999 ASCII + 'é' would be 10,001 bytes, so 'é' starts the next piece.
    const parts = splitLine('a'.repeat(9999) + 'é' + 'b');
    assert.deepEqual(parts, ['a'.repeat(9999), 'éb']);
    const emoji = '😀'.repeat(5000); // 4 bytes each, 20,000 bytes
    const ep = splitLine(emoji);
    assert.equal(ep.join(''), emoji);
    for (const p of ep) assert.ok(Buffer.byteLength(p) <= 10_000 && !p.includes('\uFFFD'));
  });
});

describe('wire', () => {
  test('frames survive any chunking; acks; garbage is refused', () => {
    const a = encodeFrame([BATCH, 1, 0, [['app1', 'app', 'web.1', T, 'x'.repeat(300)]]]);
    const b = encodeFrame([ACK, 1]);
    const all = Buffer.concat([a, b, a]);
    for (const step of [1, 3, 7, 64, all.length]) {
      const r = new FrameReader();
      const got = [];
      for (let i = 0; i < all.length; i += step) got.push(...r.push(all.subarray(i, i + step)));
      assert.equal(got.length, 3, `step ${step}`);
      assert.equal(got[0]![0], BATCH);
      assert.deepEqual(got[1], [ACK, 1]);
    }
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xffffffff, 0);
    assert.throws(() => new FrameReader().push(huge), FrameError);
    assert.equal(validWire(['a', 'app', 'web.1', 1, 'x']), true);
    assert.equal(validWire(['a', 'db', 'web.1', 1, 'x']), false);
    assert.equal(validWire(['a', 'app', 'web.1', '1', 'x']), false);
  });
});

describe('owners', () => {
  const m = (id: string): LogMember => ({ id, logs: `127.0.0.1:${id.length}`, api: `http://${id}` });
  test('rendezvous: every app has one owner; removing a member moves only its apps', () => {
    const three = [m('a'), m('b'), m('c')];
    const apps = Array.from({ length: 3000 }, (_v, i) => `app-${i}`);
    const before = new Map(apps.map((x) => [x, ownerOf(x, three)!.id]));
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (const o of before.values()) counts[o]!++;
    for (const n of Object.values(counts)) assert.ok(n > 800 && n < 1200, `balanced: ${JSON.stringify(counts)}`);
    const two = [three[0]!, three[2]!];
    for (const x of apps) {
      const now = ownerOf(x, two)!.id;
      if (before.get(x) !== 'b') assert.equal(now, before.get(x), `${x} moved though its owner stayed`);
    }
    assert.equal(ownerOf('x', []), undefined);
    // The member list's order does not matter.
    for (const x of apps.slice(0, 100)) assert.equal(ownerOf(x, [...three].reverse())!.id, before.get(x));
  });
});

describe('store', () => {
  const rec = (i: number, dyno = 'web.1') => ({ app: 'a', source: 'app' as const, dyno, ts: T + i, line: `l${i}` });
  test('keeps the newest 1500 in arrival order; last(n, filter)', () => {
    const log = new AppLog();
    for (let i = 0; i < 4000; i++) log.push({ rec: rec(i, i % 2 ? 'worker.1' : 'web.1'), text: `l${i}` });
    assert.equal(log.size, 1500);
    assert.deepEqual(log.last(3).map((e) => e.text), ['l3997', 'l3998', 'l3999']);
    assert.equal(log.last(1500)[0]!.text, 'l2500');
    const web = log.last(2, (r) => r.dyno === 'web.1').map((e) => e.text);
    assert.deepEqual(web, ['l3996', 'l3998']);
  });

  test('prepend (handoff) puts history before what arrived since, keeping the newest', () => {
    const log = new AppLog(5);
    log.push({ rec: rec(10), text: 'new1' });
    log.push({ rec: rec(11), text: 'new2' });
    log.prepend([1, 2, 3, 4].map((i) => ({ rec: rec(i), text: `old${i}` }) as Entry));
    assert.deepEqual(log.entries().map((e) => e.text), ['old2', 'old3', 'old4', 'new1', 'new2']);
  });

  test('subscribers see each app batch once; release ends them', () => {
    const store = new LogStore();
    const got: string[] = [];
    let closed = '';
    store.subscribe('a', { push: (es) => got.push(es.map((e) => e.rec.line).join(',')), close: (r) => (closed = r) });
    store.append([rec(1), { ...rec(2), app: 'b' }, rec(3), rec(4)]);
    assert.deepEqual(got, ['l1', 'l3,l4']);
    assert.equal(store.release('a', 'moved').length, 3);
    assert.equal(closed, 'moved');
  });
});

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

describe('drain formats', () => {
  const r = { app: 'a', source: 'app' as const, dyno: 'web.1', ts: T, line: 'héllo' };
  test('RFC 5424 with octet counting in bytes; logplex-1 messages', () => {
    const m = syslogMessage(r, 'd.0f0e');
    assert.equal(m, '<190>1 2026-11-26T10:00:00.123456+00:00 d.0f0e app web.1 - - héllo');
    assert.equal(octetFrame(m), `${Buffer.byteLength(m)} ${m}`);
    assert.equal(logplexMessage(r), '<190>1 2026-11-26T10:00:00.123456+00:00 host app web.1 - héllo');
  });
  test('drain URLs', () => {
    assert.equal(checkDrainUrl('syslog://logs.example.com:514'), 'syslog://logs.example.com:514');
    assert.equal(checkDrainUrl('syslog+tls://logs.example.com:6514/'), 'syslog+tls://logs.example.com:6514');
    assert.equal(checkDrainUrl('https://u:p@h.example.com/x?y=1'), 'https://u:p@h.example.com/x?y=1');
    for (const bad of ['ftp://h/x', 'syslog://h', 'nope', 42]) assert.throws(() => checkDrainUrl(bad), ControlError);
  });
});

describe('log sessions', () => {
  test('signed, expiring, bound to the key', () => {
    const key = Buffer.alloc(32, 1);
    const who = { token: 'a'.repeat(64) };
    const { token } = signSession(key, 'shop', { lines: 10, tail: true }, who, 1000);
    assert.deepEqual(verifySession(key, token, 2000), { app: 'shop', q: { lines: 10, tail: true }, who });
    assert.throws(() => verifySession(key, token, 1000 + 5 * 60_000 + 1), /expired/);
    assert.throws(() => verifySession(Buffer.alloc(32, 2), token, 2000), /not valid/);
    assert.throws(() => verifySession(key, 'x', 2000), /malformed/);
  });
});
