/**
 * Drains end to end: a real rsyslogd (started here, on loopback) receives the
 * app's lines as RFC 5424 over octet-counted TCP; an HTTP receiver gets
 * `application/logplex-1` batches, retried with the same frame id; a stalled
 * drain drops its oldest lines and says so (L10); the drains API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { Cluster } from '../../cluster/client.ts';
import type { LogShipper } from '../../logplex/shipper.ts';
import { useEtcd } from '../support/etcd.ts';
import { Rsyslog, RSYSLOGD, RSYSLOG_MISSING } from './rsyslog.ts';
import { producer, startControls, waitFor } from './support.ts';

const etcd = useEtcd();

interface Post {
  headers: IncomingMessage['headers'];
  frames: string[];
}

/** Parses an octet-counted body (`<len> <msg><len> <msg>...`), checking every length. */
function frames(body: Buffer): string[] {
  const out: string[] = [];
  let off = 0;
  while (off < body.length) {
    const sp = body.indexOf(0x20, off);
    const len = Number(body.subarray(off, sp).toString());
    assert.ok(Number.isInteger(len) && len > 0, `bad frame length at ${off}`);
    out.push(body.subarray(sp + 1, sp + 1 + len).toString());
    off = sp + 1 + len;
  }
  return out;
}

describe('drains', { skip: RSYSLOGD ? false : RSYSLOG_MISSING }, () => {
  let cluster: Cluster;
  let ctls: Awaited<ReturnType<typeof startControls>>;
  let ship: LogShipper;
  const rsyslog = new Rsyslog();
  let receiver: Server;
  let receiverUrl = '';
  const posts: Post[] = [];
  /** What the receiver does with the next requests: a status, or 'hold' until released. */
  let plan: (number | 'hold')[] = [];
  let release: (() => void) | undefined;

  before(async () => {
    await rsyslog.start();
    receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        posts.push({ headers: req.headers, frames: frames(Buffer.concat(chunks)) });
        const next = plan.shift() ?? 200;
        if (next === 'hold') release = () => res.writeHead(200).end();
        else res.writeHead(next).end();
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    receiverUrl = `http://user:secret@127.0.0.1:${(receiver.address() as { port: number }).port}/logs`;
    cluster = etcd.cluster();
    // The receivers here are on loopback and the API test names 10.0.0.x: an operator's allowlist, as --outbound-allow.
    ctls = await startControls(etcd, cluster, 1, { egress: { allow: [{ cidr: '127.0.0.1/32' }, { cidr: '10.0.0.0/24' }] } });
    ship = await producer(cluster, ctls[0]!.control.ctx.clusterKey);
    await waitFor(() => ship.members.list().length === 1, 5000, 'member');
  });
  after(async () => {
    await ship?.close();
    for (const c of ctls ?? []) await c.stop();
    await rsyslog.stop();
    receiver?.closeAllConnections();
    await new Promise((r) => receiver?.close(r));
  });

  test('the drains API: add, list, info, remove; at most 5; bad URLs refused', async () => {
    const api = ctls[0]!.api;
    assert.equal((await api('POST', '/apps', { name: 'drainy' })).status, 201);
    const added = await api('POST', '/apps/drainy/log-drains', { url: 'https://u:p@logs.example.com/x' });
    assert.equal(added.status, 201);
    assert.match(added.body.token, /^d\.[0-9a-f-]{36}$/);
    assert.equal(added.body.url, 'https://u:***@logs.example.com/x', 'credentials are not echoed');
    assert.equal((await api('POST', '/apps/drainy/log-drains', { url: 'https://u:p@logs.example.com/x' })).status, 422, 'duplicate');
    for (let i = 2; i <= 5; i++) assert.equal((await api('POST', '/apps/drainy/log-drains', { url: `syslog://10.0.0.${i}:514` })).status, 201);
    const sixth = await api('POST', '/apps/drainy/log-drains', { url: 'syslog://10.0.0.9:514' });
    assert.equal(sixth.status, 422);
    assert.match(sixth.body.message, /already has 5 drains/);
    assert.equal((await api('GET', '/apps/drainy/log-drains')).body.length, 5);
    assert.equal((await api('GET', `/apps/drainy/log-drains/${added.body.id}`)).body.token, added.body.token);
    for (const bad of ['ftp://x/y', 'syslog://host-without-port', 'not a url', '']) {
      const r = await api('POST', '/apps/drainy/log-drains', { url: bad });
      assert.equal(r.status, 422, bad);
    }
    const list = (await api('GET', '/apps/drainy/log-drains')).body as { id: string }[];
    for (const d of list) assert.equal((await api('DELETE', `/apps/drainy/log-drains/${d.id}`)).status, 200);
    assert.equal((await api('GET', '/apps/drainy/log-drains')).body.length, 0);
    assert.equal((await api('POST', '/apps/nope/log-drains', { url: 'syslog://h:1' })).status, 404);
  });

  test('rsyslog receives the lines as RFC 5424 (octet-counted over TCP), long lines split', async () => {
    const api = ctls[0]!.api;
    assert.equal((await api('POST', '/apps', { name: 'sys' })).status, 201);
    const d = await api('POST', '/apps/sys/log-drains', { url: `syslog://127.0.0.1:${rsyslog.port}` });
    assert.equal(d.status, 201);
    await waitFor(() => ctls[0]!.control.logs!.drains.output(d.body.id), 5000, 'drain running');
    for (let i = 0; i < 200; i++) ship.write({ app: 'sys', source: 'app', dyno: 'web.1', line: `hello ${i} ünïcødé` });
    ship.write({ app: 'sys', source: 'heroku', dyno: 'router', line: 'at=info method=GET path="/"' });
    ship.write({ app: 'sys', source: 'app', dyno: 'web.1', line: 'L'.repeat(12_000) });
    const got = await waitFor(() => {
      const l = rsyslog.lines();
      return l.filter((x) => !x.includes(' app api ')).length >= 203 ? l : undefined;
    }, 15_000, 'rsyslog lines');
    // The app's own "Release v1 created" lines may land before or after the drain starts: not counted.
    const ours = got.filter((l) => l.startsWith(d.body.token) && !l.startsWith(`${d.body.token} app api `));
    assert.equal(ours.length, 203);
    for (let i = 0; i < 200; i++) assert.equal(ours[i], `${d.body.token} app web.1 hello ${i} ünïcødé`);
    assert.equal(ours[200], `${d.body.token} heroku router at=info method=GET path="/"`);
    assert.equal(ours[201], `${d.body.token} app web.1 ${'L'.repeat(10_000)}`);
    assert.equal(ours[202], `${d.body.token} app web.1 ${'L'.repeat(2_000)}`);
  });

  test('HTTPS-style drain: logplex-1 batches with count, frame id, token; retried on 503 with the same frame id', async () => {
    const api = ctls[0]!.api;
    assert.equal((await api('POST', '/apps', { name: 'web-drain' })).status, 201);
    posts.length = 0;
    plan = [503];
    const d = await api('POST', '/apps/web-drain/log-drains', { url: receiverUrl });
    await waitFor(() => ctls[0]!.control.logs!.drains.output(d.body.id), 5000, 'drain running');
    for (let i = 0; i < 50; i++) ship.write({ app: 'web-drain', source: 'app', dyno: 'worker.1', line: `job ${i}` });
    await waitFor(() => posts.length >= 2 && posts.slice(1).flatMap((p) => p.frames).filter((f) => f.includes(' worker.1 ')).length >= 50, 10_000, 'retried batch');
    const [first, second] = posts;
    assert.equal(first!.headers['content-type'], 'application/logplex-1');
    assert.equal(first!.headers['logplex-drain-token'], d.body.token);
    assert.equal(first!.headers['logplex-msg-count'], String(first!.frames.length));
    assert.equal(first!.headers.authorization, `Basic ${Buffer.from('user:secret').toString('base64')}`);
    assert.equal(second!.headers['logplex-frame-id'], first!.headers['logplex-frame-id'], 'a retry keeps its frame id');
    assert.deepEqual(second!.frames, first!.frames);
    const all = posts.slice(1).flatMap((p) => p.frames).filter((f) => f.includes(' worker.1 '));
    assert.equal(all.length, 50);
    for (let i = 0; i < 50; i++) assert.match(all[i]!, new RegExp(`^<190>1 \\d{4}-\\d\\d-\\d\\dT[\\d:.]+\\+00:00 host app worker\\.1 - job ${i}$`));
    await api('DELETE', `/apps/web-drain/log-drains/${d.body.id}`);
  });

  test('a stalled drain keeps 1024 lines, drops the oldest and reports L10 in the drain and the app stream', async () => {
    const api = ctls[0]!.api;
    assert.equal((await api('POST', '/apps', { name: 'stall' })).status, 201);
    posts.length = 0;
    plan = ['hold'];
    const d = await api('POST', '/apps/stall/log-drains', { url: receiverUrl });
    await waitFor(() => ctls[0]!.control.logs!.drains.output(d.body.id), 5000, 'drain running');
    ship.write({ app: 'stall', source: 'app', dyno: 'web.1', line: 'first' });
    await waitFor(() => release, 5000, 'first batch held');
    for (let i = 0; i < 3000; i++) ship.write({ app: 'stall', source: 'app', dyno: 'web.1', line: `n ${i}` });
    await waitFor(() => ship.stats.buffered === 0, 5000, 'acked');
    const out = ctls[0]!.control.logs!.drains.output(d.body.id)!;
    await waitFor(() => out.stats.dropped >= 3000 - 1024, 5000, 'drops counted');
    release!();
    const lines = await waitFor(() => {
      const f = posts.flatMap((p) => p.frames);
      return f.some((l) => l.endsWith(' - n 2999')) ? f : undefined;
    }, 10_000, 'backlog delivered');
    const at = lines.findIndex((l) => l.includes('Error L10'));
    assert.ok(at > 0, 'an L10 line');
    const n = Number(/\): (\d+) messages dropped since /.exec(lines[at]!)![1]);
    assert.ok(n >= 3000 - 1024 && n <= 3000 - 1024 + 5, `dropped ${n}`);
    // What follows the notice is the newest part of the backlog, in order, ending with the last line.
    const rest = lines.slice(at + 1).filter((l) => / host app web\.1 - n \d+$/.test(l)).map((l) => Number(/n (\d+)$/.exec(l)![1]));
    assert.ok(rest.length >= 1020 && rest.length <= 1024, `kept ${rest.length}`);
    assert.deepEqual(rest, Array.from({ length: rest.length }, (_v, i) => 3000 - rest.length + i));
    const hist = await api('GET', '/apps/stall/logs?source=heroku');
    assert.match(String(hist.body), /heroku\[logplex\]: Error L10 \(output buffer overflow\): \d+ messages dropped/);
  });
});
