import { describe, test } from 'node:test';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/ports.ts';
import assert from 'node:assert/strict';
import { Cluster } from '../../cluster/client.ts';
import { watchPrefix, type Change } from '../../cluster/watch.ts';
import type { Endpoint } from '../../cluster/records.ts';
import { captureLog } from '../support/capture-log.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';

const etcd = useEtcd();
const ep = (app: string, dyno: string, port: number): Endpoint => ({ app, dyno, node: 'n1', host: '127.0.0.1', port, release: 1 });

/** Applies changes to a map the way a consumer would, and records each one. */
function recorder() {
  const state = new Map<string, unknown>();
  const seen: string[] = [];
  return {
    state,
    seen,
    handler: {
      onChanges(changes: Change[]) {
        for (const c of changes) {
          if (c.type === 'put') {
            state.set(c.entry.key, c.entry.value);
            seen.push(`put ${c.entry.key} ${c.entry.modRevision}`);
          } else {
            state.delete(c.key);
            seen.push(`delete ${c.key} ${c.revision}`);
          }
        }
      },
    },
  };
}

/** The truth: every event under `prefix` after `from`, read straight from etcd's history. */
async function history(cluster: Cluster, prefix: string, from: number, to: number): Promise<string[]> {
  const out: string[] = [];
  const w = await cluster.etcd.watch().prefix(prefix).startRevision(String(from)).create();
  await new Promise<void>((resolve) => {
    w.on('data', (res: { header: { revision: string }; events: { type: string; kv: { key: Buffer; mod_revision: string } }[] }) => {
      for (const e of res.events) out.push(`${e.type === 'Put' ? 'put' : 'delete'} ${e.kv.key.toString()} ${e.kv.mod_revision}`);
      if (res.events.length && Number(res.events.at(-1)!.kv.mod_revision) >= to) resolve();
    });
  });
  await w.cancel();
  return out;
}

describe('watch with resume', () => {
  test('an etcd kill and restart loses and duplicates no event', async () => {
    const writer = etcd.cluster();
    const reader = new Cluster({ ...writer.options });
    const k = writer.keys;
    const rec = recorder();
    const { log } = captureLog();
    const start = await writer.revision();
    const w = watchPrefix(reader, k.routing(), rec.handler, log);
    await w.ready;

    // Writes race the kill: some are acknowledged, some fail; whatever etcd applied must arrive exactly once.
    let n = 0;
    const writing = (async () => {
      while (n < 400) {
        try {
          await writer.put(k.endpoint('n1', 'a', `web.${n % 7}`), ep('a', `web.${n % 7}`, 1000 + n));
        } catch {
          /* etcd is down */
        }
        n++;
        if (n % 50 === 0) await writer.delete(k.endpoint('n1', 'a', 'web.3')).catch(() => undefined);
      }
    })();
    await eventually(() => n > 100, 10_000, 'writes before the kill');
    await etcd.server.stop('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    await etcd.server.start();
    await writing;
    for (let i = 0; i < 20; i++) await writer.put(k.domain(`d${i}.example.com`), { app: 'a' });
    const end = await writer.revision();

    await eventually(() => w.revision >= end, 20_000, 'the watch to catch up');
    const truth = await history(writer, k.routing(), start + 1, end);
    assert.ok(truth.length > 100);
    assert.deepEqual(rec.seen, truth);
    assert.deepEqual(new Set(rec.seen).size, rec.seen.length, 'no duplicates');
    await w.close();
    reader.close();
  });

  test('after a partition longer than compaction, the watch re-lists and emits the difference', async () => {
    const writer = etcd.cluster();
    const proxy = await new TcpProxy('127.0.0.1', etcd.server.clientPort).start();
    const reader = new Cluster({ endpoints: [proxy.url], prefix: writer.keys.prefix, callTimeoutMs: 1000 });
    const k = writer.keys;
    for (let i = 1; i <= 5; i++) await writer.put(k.endpoint('n1', 'b', `web.${i}`), ep('b', `web.${i}`, i));
    const rec = recorder();
    const { log, lines } = captureLog();
    let disconnects = 0;
    const w = watchPrefix(reader, k.routing(), { ...rec.handler, onStatus: (up) => void (up || disconnects++) }, log);
    await w.ready;
    assert.equal(rec.state.size, 5);

    proxy.cut();
    await eventually(() => disconnects > 0, 10_000, 'the watch to notice the partition');
    await writer.delete(k.endpoint('n1', 'b', 'web.1'));
    await writer.put(k.endpoint('n1', 'b', 'web.2'), ep('b', 'web.2', 222));
    await writer.put(k.endpoint('n1', 'b', 'web.9'), ep('b', 'web.9', 9));
    await writer.put(k.domain('shop.example.com'), { app: 'b' });
    await writer.delete(k.endpoint('n1', 'b', 'web.9')); // created and gone while we were away: never seen
    await writer.compact(await writer.revision());
    proxy.heal();

    const truth = async () => new Map((await writer.list(k.routing())).entries.map((e) => [e.key, e.value]));
    const want = await truth();
    await eventually(() => rec.state.size === want.size && [...want].every(([key, v]) => JSON.stringify(rec.state.get(key)) === JSON.stringify(v)), 20_000, 'the re-listed state');
    assert.ok(!rec.state.has(k.endpoint('n1', 'b', 'web.1')));
    assert.equal((rec.state.get(k.endpoint('n1', 'b', 'web.2')) as Endpoint).port, 222);
    assert.ok(!rec.seen.some((s) => s.includes('web.9')), 'a key that came and went during the partition is not emitted');
    assert.ok(lines.some((l) => l.msg === 'watch-canceled-relisting'), 'the compaction was detected');

    // And the watch is live again afterwards.
    await writer.put(k.endpoint('n1', 'b', 'web.4'), ep('b', 'web.4', 444));
    await eventually(() => (rec.state.get(k.endpoint('n1', 'b', 'web.4')) as Endpoint | undefined)?.port === 444, 10_000, 'a live event');
    await w.close();
    reader.close();
    await proxy.close();
  });

  test('a paged handler gets a big list in pages, deletes with the last page, and ends in the same state', async () => {
    const writer = etcd.cluster();
    const proxy = await new TcpProxy('127.0.0.1', etcd.server.clientPort).start();
    const reader = new Cluster({ endpoints: [proxy.url], prefix: writer.keys.prefix, callTimeoutMs: 1000 });
    const k = writer.keys;
    const putMany = async (from: number, to: number, port: number) => {
      for (let i = from; i < to; i += 128) {
        const ops = [];
        for (let j = i; j < Math.min(to, i + 128); j++) {
          const key = k.endpoint('n1', `p${j}`, 'web.1');
          ops.push({ put: key, value: writer.value(key, ep(`p${j}`, 'web.1', port)) });
        }
        await writer.txn([], ops);
      }
    };
    await putMany(0, 2500, 1);
    const rec = recorder();
    const batches: { size: number; deletes: number; initial: boolean; complete: boolean }[] = [];
    const { log } = captureLog();
    let disconnects = 0;
    const w = watchPrefix(reader, k.routing(), {
      paged: true,
      onChanges(changes, _rev, initial, complete) {
        batches.push({ size: changes.length, deletes: changes.filter((c) => c.type === 'delete').length, initial, complete });
        rec.handler.onChanges(changes);
      },
      onStatus: (up) => void (up || disconnects++),
    }, log);
    await w.ready;
    assert.deepEqual(batches, [
      { size: 1000, deletes: 0, initial: true, complete: false },
      { size: 1000, deletes: 0, initial: true, complete: false },
      { size: 500, deletes: 0, initial: true, complete: true },
    ]);
    assert.equal(rec.state.size, 2500);

    // A re-list after compaction: 1,500 changed values come page by page, the 3 deletes with the last page.
    proxy.cut();
    await eventually(() => disconnects > 0, 10_000, 'the watch to notice the partition');
    batches.length = 0;
    await putMany(0, 1500, 2);
    for (const j of [5, 1700, 2499]) await writer.delete(k.endpoint('n1', `p${j}`, 'web.1'));
    await writer.compact(await writer.revision());
    proxy.heal();
    await eventually(() => batches.some((b) => b.complete), 20_000, 'the re-list');
    assert.ok(batches.length >= 2, `the re-list came in pages (${JSON.stringify(batches)})`);
    assert.ok(batches.slice(0, -1).every((b) => !b.complete && b.deletes === 0 && !b.initial));
    assert.equal(batches.at(-1)!.deletes, 3);
    assert.equal(batches.reduce((n, b) => n + b.size, 0), 1499 + 3, 'only what changed is emitted');
    const want = new Map((await writer.list(k.routing())).entries.map((e) => [e.key, e.value]));
    assert.equal(rec.state.size, want.size);
    for (const [key, v] of want) assert.deepEqual(rec.state.get(key), v);
    await w.close();
    reader.close();
    await proxy.close();
  });

  test('a corrupt value logs one error naming the key, and the watch goes on', async () => {
    const c = etcd.cluster();
    const k = c.keys;
    const rec = recorder();
    const { log, lines } = captureLog();
    const w = watchPrefix(c, k.routing(), rec.handler, log);
    await w.ready;
    const bad = k.endpoint('n1', 'c', 'web.1');
    await c.put(bad, ep('c', 'web.1', 1));
    await eventually(() => rec.state.has(bad), 5000, 'the valid value');
    await c.etcd.put(bad).value(Buffer.from([0xc1, 0x00, 0xff]));
    await c.put(k.endpoint('n1', 'c', 'web.2'), ep('c', 'web.2', 2));
    await eventually(() => rec.state.has(k.endpoint('n1', 'c', 'web.2')), 5000, 'the next valid value');

    const errors = lines.filter((l) => l.level === 50);
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!.key, bad);
    assert.equal(errors[0]!.msg, 'undecodable-value-skipped');
    assert.ok(!rec.state.has(bad), 'a value that no longer decodes is treated as gone');
    await w.close();
  });

  test('closing a watch that never reached etcd lets the process exit', async () => {
    const file = fileURLToPath(new URL('./fixtures/watch-close.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', file, `http://127.0.0.1:${await freePort()}`], {
      stdio: 'ignore', env: { ...process.env, DYNOMESH_LOG_LEVEL: 'silent' },
    });
    const code = await new Promise<number | string>((resolve) => {
      const t = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 15_000);
      child.once('exit', (c) => {
        clearTimeout(t);
        resolve(c ?? -1);
      });
    });
    assert.equal(code, 0);
  });
});
