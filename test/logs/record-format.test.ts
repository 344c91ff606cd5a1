/** A log record as Heroku prints it (microseconds, UTC), and long lines split without cutting a character. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { formatRecord, formatTime, l10, parseLineTime, splitLine } from '../../logplex/record.ts';

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
