import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { ago, keyValues, table } from '../../cli/output.ts';
import { formatLine } from '../../cli/up/format.ts';
import { renderPs, scaleProgress, type DynoJson } from '../../cli/commands/ps.ts';
import { shellLines } from '../../cli/commands/config.ts';

describe('tables for people', () => {
  test('columns align to the widest cell, numbers right-aligned, no trailing spaces', () => {
    const rows = [{ name: 'web.1', state: 'up', restarts: 0 }, { name: 'worker.10', state: 'crashed', restarts: 12 }];
    const out = table(rows, [
      { header: 'Dyno', get: (r) => r.name },
      { header: 'State', get: (r) => r.state },
      { header: 'Restarts', get: (r) => r.restarts, right: true },
    ]);
    assert.equal(out, [
      'Dyno       State    Restarts',
      '─────────  ───────  ────────',
      'web.1      up              0',
      'worker.10  crashed        12',
      '',
    ].join('\n'));
    for (const line of out.split('\n')) assert.equal(line, line.trimEnd());
  });

  test('empty cells and an empty table', () => {
    assert.equal(table([] as { a: string }[], [{ header: 'A', get: (r) => r.a }]), 'A\n─\n');
    assert.equal(table([{ a: null }], [{ header: 'A', get: (r) => r.a }, { header: 'B', get: () => 'x' }]), 'A  B\n─  ─\n   x\n');
  });

  test('key: value lines align their values', () => {
    assert.equal(keyValues([['GREETING', 'hi'], ['DATABASE_URL', 'postgres://x'], ['EMPTY', '']]), 'GREETING:     hi\nDATABASE_URL: postgres://x\nEMPTY:\n');
    assert.equal(keyValues([]), '');
  });

  test('relative times', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    assert.equal(ago('2026-01-01T11:59:30Z', now), '30s ago');
    assert.equal(ago('2026-01-01T11:55:00Z', now), '5m ago');
    assert.equal(ago('2026-01-01T09:00:00Z', now), '3h ago');
    assert.equal(ago('2025-12-30T12:00:00Z', now), '2d ago');
    assert.equal(ago(null, now), '');
  });

  test('config --shell quotes what a shell would split', () => {
    assert.equal(shellLines({ B: 'hello world', A: 'plain', C: "it's" }), `A=plain\nB='hello world'\nC='it'\\''s'\n`);
  });
});

const dyno = (name: string, state: string, extra: Partial<DynoJson> = {}): DynoJson => ({
  name, type: name.split('.')[0]!, state, size: 'standard-1x', command: null, release: { version: 4 }, host: '127.0.0.1', node: 'n1',
  restarts: 0, message: null, since: new Date().toISOString(), ...extra,
});

describe('ps', () => {
  test('dynos grouped by type under a heading with size, command and count', () => {
    const out = renderPs([dyno('web.1', 'up'), dyno('web.2', 'crashed', { restarts: 2, message: 'Process exited with status 1' }), dyno('worker.1', 'starting')],
      [{ type: 'web', quantity: 2, size: 'standard-1x', command: 'node server.js' }, { type: 'worker', quantity: 1, size: 'standard-1x', command: 'node worker.js' }]);
    const lines = out.split('\n');
    assert.equal(lines[0], '=== web (Standard-1X): node server.js (2)');
    assert.match(lines[1]!, /^web\.1: up \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+s ago\) v4 on n1$/);
    assert.match(lines[2]!, /^web\.2: crashed .* - 2 restarts; Process exited with status 1$/);
    assert.ok(out.includes('=== worker (Standard-1X): node worker.js (1)'));
    assert.match(renderPs([], []), /No dynos are running/);
  });

  test('scale progress counts only up dynos and waits for extra ones to stop', () => {
    const targets = [{ type: 'web', quantity: 3 }];
    assert.deepEqual(scaleProgress([dyno('web.1', 'up'), dyno('web.2', 'starting')], targets), { text: 'web 1/3 up', done: false, crashed: [] });
    assert.equal(scaleProgress([dyno('web.1', 'up'), dyno('web.2', 'up'), dyno('web.3', 'up')], targets).done, true);
    const down = scaleProgress([dyno('web.1', 'up'), dyno('web.2', 'up')], [{ type: 'web', quantity: 1 }]);
    assert.deepEqual(down, { text: 'web 2/1 up (1 stopping)', done: false, crashed: [] });
    assert.deepEqual(scaleProgress([dyno('web.1', 'crashed')], [{ type: 'web', quantity: 1 }]).crashed, ['web.1']);
    assert.equal(scaleProgress([], [{ type: 'worker', quantity: 0 }]).done, true);
  });
});

describe('dynomesh up console lines', () => {
  test('pino JSON becomes time, daemon, message and fields', () => {
    const t = new Date(2026, 0, 1, 6, 1, 2).getTime();
    const line = JSON.stringify({ level: 30, time: t, pid: 1, component: 'control', msg: 'control-started', url: 'http://127.0.0.1:5050', n: 3 });
    assert.equal(formatLine('control', line), '06:01:02 control   | control-started url=http://127.0.0.1:5050 n=3');
    const warn = JSON.stringify({ level: 40, time: t, msg: 'dyno-crashed', err: { message: 'boom here' } });
    assert.equal(formatLine('dyno-node', warn), '06:01:02 dyno-node | WARN dyno-crashed err="boom here"');
    assert.match(formatLine('etcd', 'plain text {not json'), /^\d\d:\d\d:\d\d etcd      \| plain text \{not json$/);
  });
});
