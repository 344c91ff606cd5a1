/**
 * Logs end to end with real processes on loopback: etcd, two `dynomesh control`
 * instances, a `dynomesh router` and a `dynomesh dyno-node`. A `git push`ed app
 * prints lines; a request goes through the router; a config var changes. One
 * tail sees all three sources (app[web.1], heroku[router], app[api]) in order
 * per source; history lines=1500 is exactly the newest 1500; a real rsyslogd
 * drain receives the lines; SIGKILL of the instance that owns the app mid-tail,
 * and the tail resumes on the other instance.
 */
import { deriveCredential, writeCredential } from '../../logplex/credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { freePort } from '../../lib/ports.ts';
import type { Cluster } from '../../cluster/client.ts';
import type { Member } from '../../cluster/records.ts';
import { ownerOf } from '../../logplex/owners.ts';
import { followLogs } from '../../control/logs/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { pushFiles } from '../support/git.ts';
import { enrolInto } from '../support/node-credential.ts';
import { ADMIN, client } from '../control/support.ts';
import { BIN, Daemon } from './procs.ts';
import { Rsyslog, RSYSLOGD, RSYSLOG_MISSING } from './rsyslog.ts';
import { parseLine } from './support.ts';

const etcd = useEtcd();
const APP = 'logdemo';

const SERVER_JS = `
const http = require('http');
// A burst at boot (so history has more than 1500 lines), then a steady tick.
for (let i = 0; i < 1800; i++) console.log('boot ' + i);
let n = 0;
setInterval(() => console.log('tick ' + n++), 20);
http.createServer((req, res) => {
  console.log('served ' + req.url + ' greeting=' + (process.env.GREETING || '-'));
  res.end('ok\\n');
}).listen(process.env.PORT);
`;

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: `${APP}.localhost` }, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

describe('logs end to end', { skip: RSYSLOGD ? false : RSYSLOG_MISSING }, () => {
  let dir: string;
  let cluster: Cluster;
  const daemons: Daemon[] = [];
  const controls: { d: Daemon; id: string; url: string }[] = [];
  let routerPort = 0;
  const rsyslog = new Rsyslog();
  const seen: string[] = [];
  const resumes: string[] = [];
  const stopTail = new AbortController();
  let tailDone: Promise<unknown> | undefined;

  const dump = () => daemons.map((d) => d.tail()).join('\n');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'dm-logs-e2e-'));
    chmodSync(dir, 0o711);
    mkdirSync(join(dir, 'node'), { mode: 0o711 });
    cluster = etcd.cluster();
    const key = join(dir, 'cluster.key');
    writeFileSync(key, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
    routerPort = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'warn', DYNOMESH_BOOTSTRAP_TOKEN: ADMIN,
      DYNOMESH_ETCD: etcd.server.endpoint, DYNOMESH_PREFIX: cluster.keys.prefix, DYNOMESH_CLUSTER_KEY: key,
      // The shard's isolation (npm test's "rest" shard: off). Without it a root run put this test's dynos and
      // builds on the default bridges beside the host shard's `dynomesh up`s.
      ...(process.env.DYNOMESH_ISOLATION ? { DYNOMESH_ISOLATION: process.env.DYNOMESH_ISOLATION } : {}),
    };
    await rsyslog.start();
    for (const id of ['ctl-a', 'ctl-b']) {
      const port = await freePort();
      // the test's rsyslog listens on loopback: allowed as an operator would (drains are refused there by default)
      const d = new Daemon(id, ['control', '--id', id, '--listen', `127.0.0.1:${port}`, '--data-dir', join(dir, id), '--lease-ttl', '2', '--router-port', String(routerPort), '--outbound-allow', '127.0.0.1/32'], env);
      daemons.push(d);
      controls.push({ d, id, url: `http://127.0.0.1:${port}` });
    }
    // The router gets its own log credential, issued from the cluster key (it never holds the key).
    writeCredential(join(dir, 'router.credential'), deriveCredential(loadClusterKey(key), 'router:r1'));
    daemons.push(new Daemon('router', ['router', '--port', String(routerPort), '--admin-port', 'off', '--log-credential', join(dir, 'router.credential')], env));
    await enrolInto(cluster, key, 'n1', join(dir, 'node'));
    daemons.push(new Daemon('dyno-node', ['dyno-node', '--node-id', 'n1', '--data-dir', join(dir, 'node'), '--memory', '2048', '--lease-ttl', '3', '--boot-timeout', '30s', '--stop-timeout', '3s', '--drain', '100ms'], env));
    try {
      for (const c of controls) {
        await eventually(async () => (await fetch(`${c.url}/health`).catch(() => undefined))?.status === 200, 60_000, `${c.id} healthy`);
      }
      await eventually(async () => (await cluster.list(cluster.keys.members())).entries.filter((e) => (e.value as Member).logs).length === 2, 10_000, 'two log members');
      await eventually(async () => (await cluster.list(cluster.keys.nodes())).entries.length === 1, 60_000, 'dyno-node registered');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${dump()}`);
    }
  });

  after(async () => {
    stopTail.abort();
    await tailDone?.catch(() => undefined);
    for (const d of [...daemons].reverse()) await d.stop();
    await rsyslog.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('one tail: dyno, router and platform lines; history 1500; rsyslog drain; owner killed mid-tail', { timeout: 100_000 }, async () => {
    const api = client(controls[0]!.url);
    assert.equal((await api('POST', '/apps', { name: APP })).status, 201);
    const drain = await api('POST', `/apps/${APP}/log-drains`, { url: `syslog://127.0.0.1:${rsyslog.port}` });
    assert.equal(drain.status, 201);

    // The owner of the app's stream; the tail starts there and only learns the other instance from it.
    const members = (await cluster.list(cluster.keys.members())).entries.map((e) => e.value as Member).map((m) => ({ id: m.id, api: m.api, logs: m.logs! }));
    const owner = controls.find((c) => c.id === ownerOf(APP, members)!.id)!;
    const other = controls.find((c) => c !== owner)!;
    const owners: string[] = [];
    tailDone = followLogs({
      urls: [owner.url], app: APP, token: ADMIN, lines: 0, signal: stopTail.signal, retryForMs: 30_000,
      onLine: (l) => seen.push(l), onResume: (why, url) => resumes.push(`${url}: ${why}`), onConnected: (_url, id) => owners.push(id),
    });
    await eventually(() => owners.length > 0, 5000, 'the tail connected');
    assert.deepEqual(owners, [owner.id]);

    // Deploy with a real git push (procfile buildpack).
    const remote = controls[0]!.url.replace('http://', `http://admin:${ADMIN}@`) + `/${APP}.git`;
    await pushFiles(join(dir, 'app'), { Procfile: 'web: node server.js\n', 'server.js': SERVER_JS }, remote, 'logs demo');

    try {
      await eventually(async () => (await get(routerPort, '/warmup').catch(() => 0)) === 200, 60_000, 'the app answering through the router');
      await eventually(() => seen.some((l) => / app\[web\.1\]: tick 5$/.test(l)), 20_000, 'dyno ticks in the tail');
    } catch (err) {
      throw new Error(`${(err as Error).message}\n${seen.slice(-20).join('\n')}\n${dump()}`);
    }
    assert.equal(await get(routerPort, '/hello'), 200);
    assert.equal((await api('PATCH', `/apps/${APP}/config-vars`, { GREETING: 'hi' })).status, 200);

    const routerLine = await eventually(() => seen.find((l) => / heroku\[router\]: at=info method=GET path="\/hello" host=logdemo\.localhost/.test(l)), 10_000, 'router line');
    assert.match(routerLine, /dyno=web\.1 connect=\d+ms service=\d+ms status=200 bytes=\d+/);
    await eventually(() => seen.find((l) => / app\[web\.1\]: served \/hello greeting=-$/.test(l)), 10_000, 'app request line');
    const setLine = await eventually(() => seen.find((l) => / app\[api\]: Set GREETING config vars by admin$/.test(l)), 10_000, 'config line');
    const relLine = await eventually(() => seen.find((l) => / app\[api\]: Release v3 created by admin$/.test(l)), 10_000, 'release line');
    assert.ok(seen.indexOf(setLine) < seen.indexOf(relLine));
    assert.ok(seen.some((l) => / app\[api\]: Build started by admin$/.test(l)), 'build start');
    assert.ok(seen.some((l) => / app\[api\]: Build succeeded$/.test(l)), 'build success');
    assert.ok(seen.some((l) => / heroku\[web\.1\]: State changed from starting to up$/.test(l)), 'dyno lifecycle');

    // In order per source: timestamps never go back within a source and dyno; boot lines count up with no gap.
    const bySource = new Map<string, string[]>();
    for (const l of seen) {
      const p = parseLine(l);
      assert.ok(p, `a Heroku-format line: ${l}`);
      const k = `${p.source}[${p.dyno}]`;
      if (!bySource.has(k)) bySource.set(k, []);
      bySource.get(k)!.push(p.ts);
    }
    for (const k of ['app[web.1]', 'heroku[router]', 'app[api]']) assert.ok(bySource.has(k), `${k} in the tail`);
    for (const [k, ts] of bySource) for (let i = 1; i < ts.length; i++) assert.ok(ts[i]! >= ts[i - 1]!, `${k} out of order at ${i}`);
    const boots = seen.map((l) => / app\[web\.1\]: boot (\d+)$/.exec(l)?.[1]).filter(Boolean).map(Number);
    assert.deepEqual(boots.slice(0, 1800), Array.from({ length: 1800 }, (_v, i) => i));

    // History: exactly the newest 1500, the same lines the tail saw, in the same order.
    const hist = await fetch(`${other.url}/apps/${APP}/logs?lines=1500`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const lines = (await hist.text()).trimEnd().split('\n');
    assert.equal(lines.length, 1500);
    const last = lines[1499]!;
    await eventually(() => seen.includes(last), 5000, 'the tail to reach the history end');
    const end = seen.indexOf(last);
    assert.deepEqual(lines, seen.slice(end - 1499, end + 1));

    // The user's command: `dynomesh logs -n 5 --dyno web.1` (a log session, served through the non-owner).
    const cliEnv = { PATH: process.env.PATH, HOME: dir, DYNOMESH_API_URL: other.url, DYNOMESH_API_KEY: ADMIN, DYNOMESH_CONFIG: join(dir, 'cli.json') };
    const out = (await promisify(execFile)(process.execPath, [BIN, 'logs', '-a', APP, '-n', '5', '--dyno', 'web.1'], { env: cliEnv })).stdout.trimEnd().split('\n');
    assert.equal(out.length, 5, out.join('\n'));
    for (const l of out) assert.match(l, / (app|heroku)\[web\.1\]: /);

    // The rsyslog drain got the three sources too.
    const token = drain.body.token as string;
    await eventually(() => {
      const got = rsyslog.lines();
      return got.some((l) => l.startsWith(`${token} app web.1 tick `)) &&
        got.some((l) => l.startsWith(`${token} heroku router at=info method=GET path="/hello"`)) &&
        got.some((l) => l === `${token} app api Set GREETING config vars by admin`);
    }, 10_000, 'rsyslog to receive dyno, router and api lines');

    // Kill the owner mid-tail: the tail resumes on the other instance and goes on.
    const before = seen.length;
    await owner.d.stop('SIGKILL');
    await eventually(() => resumes.length > 0, 30_000, 'the tail to resume');
    assert.match(resumes[0]!, new RegExp(`^${other.url}`));
    assert.deepEqual(owners, [owner.id, other.id], 'the other instance took the app over');
    const mark = seen.length;
    // The config change rolled the dyno (web.2 replaced web.1); its ticks go on arriving.
    await eventually(() => seen.slice(mark).some((l) => / app\[web\.\d+\]: tick \d+$/.test(l)), 15_000, 'ticks after the resume').catch((err: Error) => {
      throw new Error(`${err.message}\nresumes: ${resumes.join('; ')}\n${seen.slice(mark - 5).slice(0, 40).join('\n')}\n${dump()}`);
    });
    assert.equal(await get(routerPort, '/after-kill'), 200);
    await eventually(() => seen.some((l) => / heroku\[router\]: at=info method=GET path="\/after-kill"/.test(l)), 10_000, 'router line after the kill');
    assert.ok(seen.length > before);
    assert.equal(new Set(seen).size, seen.length, 'no line printed twice across the resume');
    // The drain followed the app to its new owner.
    await eventually(() => rsyslog.lines().some((l) => l.startsWith(`${token} heroku router at=info method=GET path="/after-kill"`)), 10_000, 'drain after the kill');
  });
});
