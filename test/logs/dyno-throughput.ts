/**
 * A bounded measurement (not a test): a real dyno printing --rate lines/s for
 * --seconds, through a real dyno-node (output file -> FileTail -> LogShipper) to
 * two real control instances, read by a tail on the owner and a forwarded tail.
 * Each line carries the dyno's own clock, so lag = arrival here - printed.
 *
 *   node --import tsx test/logs/dyno-throughput.ts [--rate 10000] [--seconds 5]
 */
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Cluster } from '../../cluster/client.ts';
import { startEtcd } from '../../cluster/etcd-server.ts';
import { freePort } from '../../lib/ports.ts';
import type { Member } from '../../cluster/records.ts';
import { followLogs } from '../../control/logs/client.ts';
import { ownerOf } from '../../logplex/owners.ts';
import { Daemon, MEASURE_TOKEN, numberArg } from './procs.ts';
import { enrolInto } from '../support/node-credential.ts';

const RATE = numberArg('rate', 10_000);
const SECONDS = Math.min(numberArg('seconds', 5), 30);
const TOKEN = MEASURE_TOKEN;
const APP = 'loud';
const TOTAL = RATE * SECONDS;

// Waits 4 s after boot (the tails are connected by then), prints RATE lines/s for SECONDS in 10 ms slices.
const SERVER_JS = `
const http = require('http');
const pad = 'x'.repeat(50);
http.createServer((q, s) => s.end('ok')).listen(process.env.PORT);
setTimeout(() => {
  const t0 = Date.now();
  let n = 0;
  const slice = () => {
    const due = Math.min(${TOTAL}, Math.floor((Date.now() - t0) / 1000 * ${RATE}));
    let out = '';
    for (; n < due; n++) out += 'tick ' + n + ' ' + (Date.now() * 1000) + ' ' + pad + '\\n';
    if (out) process.stdout.write(out);
    if (n < ${TOTAL}) setTimeout(slice, 10);
  };
  slice();
}, 4000);
`;

const dir = mkdtempSync(join(tmpdir(), 'dm-dyno-measure-'));
chmodSync(dir, 0o711);
mkdirSync(join(dir, 'node'), { mode: 0o711 });
const etcd = await startEtcd();
const cluster = new Cluster({ endpoints: [etcd.endpoint], prefix: '/measure/' });
const key = join(dir, 'cluster.key');
writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
const env = { PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'warn', DYNOMESH_BOOTSTRAP_TOKEN: TOKEN, DYNOMESH_ETCD: etcd.endpoint, DYNOMESH_PREFIX: '/measure/', DYNOMESH_CLUSTER_KEY: key };
const daemons: Daemon[] = [];
const ctls: { id: string; url: string }[] = [];
try {
  for (const id of ['m-a', 'm-b']) {
    const port = await freePort();
    daemons.push(new Daemon(id, ['control', '--id', id, '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, id), '--lease-ttl', '3'], env));
    ctls.push({ id, url: `http://127.0.0.1:${port}` });
  }
  await enrolInto(cluster, key, 'n1', join(dir, 'node'));
  daemons.push(new Daemon('dyno-node', ['dyno-node', '--node-id', 'n1', '--data-dir', join(dir, 'node'), '--memory', '2048', '--boot-timeout', '30s', '--stop-timeout', '2s'], env));
  for (const c of ctls) {
    for (let i = 0; (await fetch(`${c.url}/health`).catch(() => undefined))?.status !== 200; i++) {
      if (i > 600) throw new Error(`${c.id} did not start\n${daemons.map((d) => d.tail()).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const h = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  await fetch(`${ctls[0]!.url}/apps`, { method: 'POST', headers: h, body: JSON.stringify({ name: APP }) });
  while ((await cluster.list(cluster.keys.members())).entries.filter((e) => (e.value as Member).logs).length < 2) await new Promise((r) => setTimeout(r, 50));
  const members = (await cluster.list(cluster.keys.members())).entries.map((e) => e.value as Member).map((m) => ({ id: m.id, api: m.api, logs: m.logs! }));
  const owner = ctls.find((c) => c.id === ownerOf(APP, members)!.id)!;
  const other = ctls.find((c) => c !== owner)!;

  interface Tail { name: string; got: number; lags: number[]; notices: string[]; connected: boolean }
  const tails: Tail[] = [{ name: 'owner', got: 0, lags: [], notices: [], connected: false }, { name: 'forwarded', got: 0, lags: [], notices: [], connected: false }];
  const stop = new AbortController();
  const runs = tails.map((t, i) => followLogs({
    urls: [i === 0 ? owner.url : other.url], app: APP, token: TOKEN, lines: 0, signal: stop.signal,
    onConnected: () => (t.connected = true),
    onLine: (l) => {
      const m = / app\[web\.1\]: tick \d+ (\d+) /.exec(l);
      if (m) {
        t.got++;
        t.lags.push(Date.now() * 1000 - Number(m[1]));
      } else if (/Error L1\d/.test(l)) t.notices.push(l);
    },
  }).catch((err: Error) => console.error(`${t.name}: ${err.message}`)));
  while (!tails.every((t) => t.connected)) await new Promise((r) => setTimeout(r, 20));

  const repo = join(dir, 'app');
  mkdirSync(repo);
  writeFileSync(join(repo, 'Procfile'), 'web: node server.js\n');
  writeFileSync(join(repo, 'server.js'), SERVER_JS);
  const genv = { ...process.env, GIT_AUTHOR_NAME: 'm', GIT_AUTHOR_EMAIL: 'm@example.com', GIT_COMMITTER_NAME: 'm', GIT_COMMITTER_EMAIL: 'm@example.com' };
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo, env: genv });
  execFileSync('git', ['add', '.'], { cwd: repo, env: genv });
  execFileSync('git', ['commit', '-qm', 'loud'], { cwd: repo, env: genv });
  await promisify(execFile)('git', ['push', '-q', ctls[0]!.url.replace('http://', `http://admin:${TOKEN}@`) + `/${APP}.git`, 'main'], { cwd: repo, env: genv });

  const deadline = Date.now() + 60_000 + SECONDS * 1000;
  let firstAt = 0;
  while (tails.some((t) => t.got < TOTAL) && Date.now() < deadline) {
    if (!firstAt && tails[0]!.got > 0) firstAt = Date.now();
    if (firstAt && Date.now() - firstAt > SECONDS * 1000 + 10_000) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  stop.abort();
  await Promise.all(runs);
  const pct = (a: number[], p: number) => {
    const s = [...a].sort((x, y) => x - y);
    return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! / 1000).toFixed(0) : '-';
  };
  console.log(`dyno printing ${RATE} lines/s for ${SECONDS}s (${TOTAL} lines) through a real dyno-node`);
  for (const t of tails) {
    console.log(`${t.name.padEnd(9)} received ${t.got}/${TOTAL} (${((t.got / TOTAL) * 100).toFixed(1)}%) lag ms p50=${pct(t.lags, 50)} p99=${pct(t.lags, 99)} max=${pct(t.lags, 100)}${t.notices.length ? ` notices: ${t.notices.join(' | ')}` : ''}`);
  }
} finally {
  for (const d of [...daemons].reverse()) await d.stop();
  cluster.close();
  await etcd.destroy();
  rmSync(dir, { recursive: true, force: true });
}
