/** A dyno's output: the file tail the agent follows and the per-dyno ring of lines. */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { FileTail, MAX_LINE, RingSink } from '../../dyno-node/output.ts';
import { eventually } from '../support/etcd.ts';

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
