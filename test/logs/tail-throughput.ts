/**
 * A bounded measurement (not a test): can a tail keep up with one dyno printing
 * 10,000 lines/s? Real etcd and two real `dynomesh control` processes; a producer
 * in this process paced at --rate lines/s for --seconds (as a dyno-node ships a
 * dyno's output); two tails read concurrently, one from the owner and one through
 * the other instance (forwarded). Prints received counts, L10/L11 and the lag
 * (arrival here minus the line's timestamp) percentiles.
 *
 *   node --import tsx test/logs/tail-throughput.ts [--rate 10000] [--seconds 5]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { enrolNode } from '../../cluster/node-credential.ts';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Cluster } from '../../cluster/client.ts';
import { startEtcd } from '../../cluster/etcd-server.ts';
import { freePort } from '../../lib/ports.ts';
import type { Member } from '../../cluster/records.ts';
import { followLogs } from '../../control/logs/client.ts';
import { ownerOf } from '../../logplex/owners.ts';
import { nowMicros, parseLineTime } from '../../logplex/record.ts';
import { LogShipper } from '../../logplex/shipper.ts';
import { deriveCredential } from '../../logplex/credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { Daemon, MEASURE_TOKEN, numberArg } from './procs.ts';

const RATE = numberArg('rate', 10_000);
const SECONDS = Math.min(numberArg('seconds', 5), 30);
const TOKEN = MEASURE_TOKEN;
const APP = 'loud';

const dir = mkdtempSync(join(tmpdir(), 'dm-tail-measure-'));
const etcd = await startEtcd();
const cluster = new Cluster({ endpoints: [etcd.endpoint], prefix: '/measure/' });
const key = join(dir, 'cluster.key');
writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
const env = { PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'warn', DYNOMESH_BOOTSTRAP_TOKEN: TOKEN, DYNOMESH_ETCD: etcd.endpoint, DYNOMESH_PREFIX: '/measure/', DYNOMESH_CLUSTER_KEY: key };
const ctls: { d: Daemon; id: string; url: string }[] = [];
try {
  for (const id of ['m-a', 'm-b']) {
    const port = await freePort();
    ctls.push({ d: new Daemon(id, ['control', '--id', id, '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, id), '--lease-ttl', '3'], env), id, url: `http://127.0.0.1:${port}` });
  }
  for (const c of ctls) {
    for (let i = 0; (await fetch(`${c.url}/health`).catch(() => undefined))?.status !== 200; i++) {
      if (i > 600) throw new Error(`${c.id} did not start\n${c.d.tail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await fetch(`${ctls[0]!.url}/apps`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: APP }) });
  // Node producers log only while enrolled.
  await enrolNode(cluster, loadClusterKey(key), 'measure', 'tail-throughput');
  // ...and write only for apps placed on them: a one-off placement the scheduler leaves alone.
  await cluster.put(cluster.keys.placement('measure', APP, 'run.1'), { app: APP, dyno: 'run.1', type: 'run', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: Date.now(), command: 'true' });
  const ship = LogShipper.forCluster(cluster, pino({ level: 'warn' }), { credential: deriveCredential(loadClusterKey(key), 'node:measure') });
  await ship.members.start();
  while (ship.members.list().length < 2) await new Promise((r) => setTimeout(r, 50));
  const members = (await cluster.list(cluster.keys.members())).entries.map((e) => e.value as Member).map((m) => ({ id: m.id, api: m.api, logs: m.logs! }));
  const owner = ctls.find((c) => c.id === ownerOf(APP, members)!.id)!;
  const other = ctls.find((c) => c !== owner)!;

  interface Tail { name: string; got: number; lags: number[]; l10: number; l11: number; connected: boolean }
  const tails: Tail[] = [{ name: 'owner', got: 0, lags: [], l10: 0, l11: 0, connected: false }, { name: 'forwarded', got: 0, lags: [], l10: 0, l11: 0, connected: false }];
  const stop = new AbortController();
  const runs = tails.map((t, i) => followLogs({
    urls: [i === 0 ? owner.url : other.url], app: APP, token: TOKEN, lines: 0, dyno: 'web.1', signal: stop.signal,
    onConnected: () => (t.connected = true),
    onLine: (l) => {
      if (l.includes('Error L10')) t.l10++;
      if (l.includes('Error L11')) t.l11++;
      const ts = parseLineTime(l);
      if (ts !== undefined && l.includes(' tick ')) {
        t.got++;
        t.lags.push(nowMicros() - ts);
      }
    },
  }).catch((err: Error) => console.error(`${t.name}: ${err.message}`)));
  while (!tails.every((t) => t.connected)) await new Promise((r) => setTimeout(r, 20));

  // Paced like a dyno: RATE lines per second in 10 ms slices, ~90-byte lines.
  const total = RATE * SECONDS;
  const pad = 'x'.repeat(60);
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE));
    for (; sent < due; sent++) ship.write({ app: APP, source: 'app', dyno: 'web.1', line: `tick ${sent} ${pad}` });
    await new Promise((r) => setTimeout(r, 10));
  }
  const sendMs = performance.now() - t0;
  const deadline = Date.now() + 10_000;
  while (tails.some((t) => t.got < total) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const drainMs = performance.now() - t0 - sendMs;
  stop.abort();
  await Promise.all(runs);
  await ship.close(0);
  const pct = (a: number[], p: number) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! / 1000).toFixed(1) : '-';
  };
  console.log(`rate ${RATE}/s for ${SECONDS}s: ${total} lines sent in ${(sendMs / 1000).toFixed(2)}s; tails caught up ${drainMs.toFixed(0)} ms after the last send`);
  console.log(`producer: ${JSON.stringify(ship.stats)}`);
  for (const t of tails) {
    console.log(`${t.name.padEnd(9)} received ${t.got}/${total} (${((t.got / total) * 100).toFixed(1)}%) L10=${t.l10} L11=${t.l11} lag ms p50=${pct(t.lags, 50)} p99=${pct(t.lags, 99)} max=${pct(t.lags, 100)}`);
  }
} finally {
  for (const c of ctls) await c.d.stop();
  cluster.close();
  await etcd.destroy();
  rmSync(dir, { recursive: true, force: true });
}
