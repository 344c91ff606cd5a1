/**
 * The hostile tenant, end to end through the product: `dynomesh up` (as root, so
 * builds and dynos run in runc containers), a normal app and a hostile app
 * deployed by real `git push`. The hostile app attacks from its build (an npm
 * `postinstall`), from its web dyno (through the router), from a one-off
 * (`dynomesh run`) and across a restart (symlink swaps); every attempt must
 * fail in a way only isolation explains (connects refused by the firewall, not by
 * a closed port; host state is absent: ENOENT, not EACCES; no namespaces of its
 * own: seccomp; /app and /tmp bounded), while the normal app builds with npm
 * packages from the registry and keeps answering. Needs root; skipped otherwise.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { eventually } from '../support/etcd.ts';
import { hostAddress, hostListeningPorts } from '../support/host.ts';
import { ROOT, run, Up, type Run } from '../support/up.ts';
import { PROBE_APP } from './probe-app.ts';
import { HOST_IPAM_DIR } from '../../container/isolation.ts';
import { endpointOf } from '../support/dyno-keys.ts';

const root = process.getuid?.() === 0;
const EVIL = 'push-evil';
const NICE = 'push-nice';
/**
 * Bridges of this file's own (a bridge is per subnet): other clusters on the host (tests run
 * concurrently) use the defaults, 10.231 and 10.232, and must not hand out the same addresses.
 */
const DYNO_SUBNET = '10.234.0.0/16';
const DYNO_GATEWAY = '10.234.0.1';
const BUILD_SUBNET = '10.235.0.0/16';
const BUILD_GATEWAY = '10.235.0.1';

// ---------------------------------------------------------------- the host, seen from the test

/** Whether the test itself (on the host) connects: the control that the target is really there. */
function reachableFromHost(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(2000, () => done(false));
    s.on('connect', () => done(true));
    s.on('error', () => done(false));
  });
}

// ---------------------------------------------------------------- the hostile app

/** Where the hostile code looks; written into the pushed repo as probe-targets.json. */
interface Targets {
  hostPorts: number[];
  hostAddress: string;
  /** The dir holding the cluster key on the host (what the build's leftover process links to). */
  keyDir: string;
  read: string[];
  ls: string[];
}

interface Attempt {
  target: string;
  ok: boolean;
  code?: string;
}

/** What a probe saw (probe-lib.js `survey`). */
interface Survey {
  uid: number;
  hostname: string;
  gateway: string | null;
  dns: { ok: boolean; address?: string; code?: string };
  tcp: Attempt[];
  loopback: Attempt[];
  reads: { path: string; ok: boolean; code?: string; bytes?: number }[];
  lists: { path: string; ok: boolean; code?: string; entries?: string[] }[];
  procs: string[];
  passwd: number | string;
  background?: { compilePid: number | null; cacheDir: string };
}

/** Shared by the build (postinstall), the web dyno and one-offs: try everything at once, report what answered. */
const PROBE_LIB = `
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');
const T = JSON.parse(fs.readFileSync(path.join(__dirname, 'probe-targets.json'), 'utf8'));
exports.T = T;

function tcp(target, ms) {
  const i = target.lastIndexOf(':');
  return new Promise((resolve) => {
    const s = net.connect({ host: target.slice(0, i), port: Number(target.slice(i + 1)) });
    const done = (r) => { s.destroy(); resolve({ target, ...r }); };
    s.setTimeout(ms, () => done({ ok: false, code: 'TIMEOUT' }));
    s.on('connect', () => done({ ok: true }));
    s.on('error', (e) => done({ ok: false, code: e.code }));
  });
}
const read = (p) => { try { return { path: p, ok: true, bytes: fs.readFileSync(p).length }; } catch (e) { return { path: p, ok: false, code: e.code }; } };
const list = (p) => { try { return { path: p, ok: true, entries: fs.readdirSync(p) }; } catch (e) { return { path: p, ok: false, code: e.code }; } };
function procs() {
  return fs.readdirSync('/proc').filter((f) => /^\\d+$/.test(f))
    .map((p) => { try { return fs.readFileSync('/proc/' + p + '/cmdline', 'utf8').replace(/\\0/g, ' ').trim(); } catch { return '?'; } });
}
/** The default route's gateway, from /proc/net/route (little-endian hex). */
function gateway() {
  for (const l of fs.readFileSync('/proc/net/route', 'utf8').split('\\n').slice(1)) {
    const c = l.trim().split(/\\s+/);
    if (c[1] === '00000000' && c[2]) return [6, 4, 2, 0].map((i) => parseInt(c[2].slice(i, i + 2), 16)).join('.');
  }
  return null;
}
exports.survey = async (o = {}) => {
  const ports = (o.ports || T.hostPorts).filter((p) => p !== Number(process.env.PORT));
  const gw = gateway();
  const firewalled = [...(gw ? ports.map((p) => gw + ':' + p) : []), ...ports.map((p) => T.hostAddress + ':' + p), '169.254.169.254:80', ...(o.extra || [])];
  const [tcpR, loopR] = await Promise.all([
    Promise.all(firewalled.map((t) => tcp(t, 2500))),
    Promise.all(ports.map((p) => tcp('127.0.0.1:' + p, 2500))),
  ]);
  // The control: the container's network works (a name resolves through the allowed resolver), so a timeout means a drop.
  const dns = await new Promise((resolve) => require('dns').lookup('registry.npmjs.org', { family: 4 }, (e, a) => resolve(e ? { ok: false, code: e.code } : { ok: true, address: a })));
  let passwd;
  try { passwd = fs.readFileSync('/etc/passwd', 'utf8').split('\\n').filter(Boolean).length; } catch (e) { passwd = e.code; }
  return { uid: process.getuid(), hostname: os.hostname(), gateway: gw, dns, tcp: tcpR, loopback: loopR, reads: T.read.map(read), lists: T.ls.map(list), procs: procs(), passwd };
};
`;

/** `node probe.js build` (the postinstall) or `node probe.js oneoff <extra targets>`. */
const PROBE_CLI = `
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const lib = require('./probe-lib.js');

/** The buildpack's bin/compile among our ancestors: the leftover process waits for it to end. */
function compilePid() {
  for (let pid = process.ppid; pid > 1;) {
    let cmd = '';
    try { cmd = fs.readFileSync('/proc/' + pid + '/cmdline', 'utf8'); } catch { return null; }
    if (cmd.includes('bin/compile')) return pid;
    pid = Number(fs.readFileSync('/proc/' + pid + '/stat', 'utf8').replace(/^.*\\) /, '').split(' ')[1]);
  }
  return null;
}

async function build() {
  const report = await lib.survey();
  fs.mkdirSync('race', { recursive: true });
  fs.writeFileSync('race/inside.txt', 'the app\\'s own file\\n');
  // Escape the step's process group (setsid) and hang up (nohup), then race root's packing of this tree.
  const cacheDir = path.dirname(process.env.npm_config_cache);
  const pid = compilePid();
  spawn('setsid', ['-f', 'nohup', process.execPath, path.join(__dirname, 'race.js'), String(pid || 0), process.cwd(), cacheDir, lib.T.keyDir], { detached: true, stdio: 'ignore' }).unref();
  const beats = path.join(cacheDir, 'heartbeat');
  for (let i = 0; i < 100 && !(fs.existsSync(beats) && fs.readFileSync(beats, 'utf8').includes('started')); i++) await new Promise((r) => setTimeout(r, 100));
  report.background = { compilePid: pid, cacheDir };
  fs.writeFileSync('build-report.json', JSON.stringify(report));
  console.log('probe: ' + report.tcp.filter((r) => r.ok).length + ' of ' + report.tcp.length + ' connects answered');
}

if (process.argv[2] === 'build') build();
else lib.survey({ extra: (process.argv[3] || '').split(',').filter(Boolean) }).then((r) => console.log(JSON.stringify(r)));
`;

/**
 * The build's leftover: beats into the app's build cache (which outlives the build) while
 * bin/compile runs; once it has ended, swaps app/race between its real dir and a link to the
 * cluster key's dir for 30 s, which is when root packs the tree.
 */
const RACE = `
const fs = require('fs');
const path = require('path');
const [compilePid, buildDir, cacheDir, keyDir] = process.argv.slice(2);
const beat = (phase) => { try { fs.appendFileSync(path.join(cacheDir, 'heartbeat'), Date.now() + ' ' + phase + '\\n'); } catch {} };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => { try { process.kill(pid, 0); return true; } catch (e) { return e.code === 'EPERM'; } };
(async () => {
  beat('started');
  const until = Date.now() + (Number(compilePid) ? 120000 : 3000);
  while ((!Number(compilePid) || alive(Number(compilePid))) && Date.now() < until) { beat('waiting'); await sleep(100); }
  await sleep(300);
  const race = path.join(buildDir, 'race');
  const real = race + '.real';
  const end = Date.now() + 30000;
  for (let i = 0; Date.now() < end; i++) {
    if (i % 200 === 0) beat('swapping');
    try { fs.renameSync(race, real); fs.symlinkSync(keyDir, race); } catch {}
    try { fs.unlinkSync(race); fs.renameSync(real, race); } catch {}
    if (i % 50 === 0) await sleep(1);
  }
  beat('done');
})();
`;

/** Routes the web dyno adds to the probe app (test/isolation/probe-app.ts shares its module scope). */
const SERVER_EXTRA = `
const lib = require('./probe-lib.js');
const BOOT = require('crypto').randomBytes(6).toString('hex');
routes.whoami = async () => ({ boot: BOOT, dyno: process.env.DYNO });
routes.survey = async (q) => lib.survey({ extra: String(q.extra || '').split(',').filter(Boolean), ...(q.ports ? { ports: String(q.ports).split(',').map(Number) } : {}) });
routes.cat = async (q) => { try { return { ok: true, text: fs.readFileSync(String(q.path), 'utf8') }; } catch (e) { return { ok: false, code: e.code }; } };
/** Replaces a path of /app by a symlink (to a host path, meaningless in here, meaningful to root outside). */
routes.swap = async (q) => {
  fs.rmSync(String(q.path), { recursive: true, force: true });
  fs.symlinkSync(String(q.target), String(q.path));
  return { ok: true, link: fs.readlinkSync(String(q.path)) };
};
routes.statfs = async (q) => { const s = fs.statfsSync(String(q.path)); return { bytes: s.blocks * s.bsize, free: s.bavail * s.bsize }; };
routes.lstat = async (q) => String(q.paths).split(',').map((p) => {
  try { const s = fs.lstatSync(p); return { path: p, type: s.isSymbolicLink() ? 'link' : s.isDirectory() ? 'dir' : 'file' }; } catch (e) { return { path: p, type: e.code }; }
});
`;

function writeHostileApp(dir: string, targets: Targets): void {
  mkdirSync(dir, { recursive: true });
  const files: Record<string, string> = {
    'package.json': JSON.stringify({ name: 'probe', version: '1.0.0', private: true, scripts: { postinstall: 'node probe.js build' } }, null, 2),
    Procfile: 'web: node server.js\n',
    'server.js': PROBE_APP + SERVER_EXTRA,
    'probe-lib.js': PROBE_LIB,
    'probe.js': PROBE_CLI,
    'race.js': RACE,
    'probe-targets.json': JSON.stringify(targets, null, 2),
  };
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
}

/** examples/node-hello with one dependency from the npm registry (no lockfile: `npm install`). */
function writeNormalApp(dir: string): void {
  cpSync(join(ROOT, 'examples/node-hello'), dir, { recursive: true });
  rmSync(join(dir, 'package-lock.json'), { force: true });
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, dependencies: { ms: '2.1.3' } }, null, 2));
}

// ---------------------------------------------------------------- checks on what a probe saw

/** Every connect to the host, metadata or another app was refused by the firewall (EHOSTUNREACH), and nothing on its own loopback is the host's. */
function assertNothingReached(s: Survey, gateway: string, where: string): string {
  assert.equal(s.gateway, gateway, `${where}: its default route goes through ${s.gateway}`);
  assert.ok(s.dns.ok, `${where}: its network does not work at all (DNS ${s.dns.code}), so a refusal would prove nothing`);
  assert.ok(s.tcp.length > 5, `${where}: tried ${s.tcp.length} connects`);
  assert.deepEqual(s.tcp.filter((r) => r.ok).map((r) => r.target), [], `${where}: reached the host, metadata or another app`);
  // The firewall answers ICMP admin-prohibited (EHOSTUNREACH), or nothing while the kernel's ICMP rate
  // limit holds the answer back (a timeout); a closed port would answer ECONNREFUSED.
  assert.deepEqual(s.tcp.filter((r) => r.code !== 'EHOSTUNREACH' && r.code !== 'TIMEOUT').map((r) => `${r.target} ${r.code}`), [], `${where}: not refused by the firewall`);
  assert.deepEqual(s.loopback.filter((r) => r.ok).map((r) => r.target), [], `${where}: its 127.0.0.1 is the host's`);
  return `${where}: ${s.tcp.length} connects to the host (via ${s.gateway} and ${s.tcp.find((r) => !r.target.startsWith(gateway))?.target.split(':')[0]}), metadata and other apps all refused by the firewall; ${s.loopback.length} on its own loopback failed; it sees ${s.procs.length} processes`;
}

/** Its own processes only, not root, a generated passwd; the host's state paths do not exist for it (ENOENT, not EACCES). */
function assertNothingSeen(s: Survey, where: string, ownListings: Record<string, string[]> = {}): void {
  assert.notEqual(s.uid, 0, `${where} runs as root`);
  assert.equal(s.passwd, 3, `${where}: /etc/passwd has ${s.passwd} entries (the host's?)`);
  assert.ok(s.procs.length <= 12, `${where} sees ${s.procs.length} processes: ${s.procs.join(' | ')}`);
  assert.deepEqual(s.procs.filter((c) => /etcd|dynomesh\.js|runc/.test(c)), [], `${where} sees the host's processes`);
  assert.deepEqual(s.reads.filter((r) => r.ok || r.code !== 'ENOENT').map((r) => `${r.path} ${r.ok ? `read ${r.bytes} bytes` : r.code}`), [], `${where}: host files exist for it`);
  const lists = s.lists.filter((l) => !(l.path in ownListings));
  assert.deepEqual(lists.filter((l) => l.ok || l.code !== 'ENOENT').map((l) => `${l.path} ${l.ok ? `lists ${l.entries!.join(',')}` : l.code}`), [], `${where}: host dirs exist for it`);
  for (const [path, entries] of Object.entries(ownListings)) {
    assert.deepEqual(s.lists.find((l) => l.path === path)?.entries, entries, `${where}: ${path} shows more than its own`);
  }
}

// ---------------------------------------------------------------- the test

describe('a hostile app pushed to `dynomesh up`', { skip: !root && 'needs root: `dynomesh up` isolates tenants (runc, CNI, nftables) only as root' }, () => {
  let up: Up | undefined;
  let buildDir: string;
  let work: string;
  let targets: Targets;
  let keyHex: string;
  const pushes: Record<string, Run> = {};
  const canary = { file: `/var/lib/dynomesh-canary-${randomBytes(4).toString('hex')}`, dir: '', body: randomBytes(16).toString('hex') };
  canary.dir = `${canary.file}.d`;
  const u = () => up!;
  /**
   * The host's listening ports a tenant must not reach: all but the cluster's add-on servers
   * (`up`'s PostgreSQL and Redis), which dynos reach by design (the firewall opens exactly the
   * host:port control advertises; they take passwords, and the superuser only from the host).
   */
  let addonPorts: number[] = [];
  const forbiddenPorts = () => hostListeningPorts().filter((p) => !addonPorts.includes(p));

  /** The published port and container address of an app's web.1 (etcd endpoint, the node's IPAM lease). */
  async function dynoOf(app: string): Promise<{ port: number; ip: string }> {
    const etcd = u().etcd();
    try {
      const ep = await eventually(() => endpointOf(etcd, app, 'web.1'), 30_000, `${app} endpoint`);
      // The dyno-node's network is the default one (dynomesh-node-*), its leases in the host's IPAM dir.
      const ip = await eventually(() => {
        for (const net of readdirSync(HOST_IPAM_DIR).filter((n) => n.startsWith('dynomesh-node-'))) {
          const lease = readdirSync(join(HOST_IPAM_DIR, net)).find((f) => readFileSync(join(HOST_IPAM_DIR, net, f), 'utf8').startsWith(`${app}.web.1.`));
          if (lease) return lease;
        }
        return undefined;
      }, 10_000, `${app}'s container address`);
      return { port: ep.value.port, ip };
    } finally {
      etcd.close();
    }
  }

  async function push(app: string, dir: string): Promise<void> {
    await u().commitAll(dir, `deploy ${app}`);
    const created = await u().cliIn(dir, 'apps:create', app);
    assert.equal(created.code, 0, created.stderr);
    pushes[app] = await u().git(dir, ['push', 'dynomesh', 'main']);
  }

  before(async () => {
    work = mkdtempSync('/var/tmp/dm-push-');
    chmodSync(work, 0o711); // build users pass through to their build dir
    buildDir = join(work, 'builds');
    up = await Up.start({
      name: 'dm-push',
      // Its own build dir (not /var/lib/dynomesh/builds) and subnets, so it shares nothing with other clusters on this host.
      env: { DYNOMESH_BUILD_DIR: buildDir, DYNOMESH_BUILD_SUBNET: BUILD_SUBNET, DYNOMESH_DYNO_SUBNET: DYNO_SUBNET, DYNOMESH_STOP_TIMEOUT: '5s', DYNOMESH_BUILD_TIMEOUT: '3m' },
    });
    keyHex = readFileSync(join(u().home, 'cluster.key'), 'utf8').trim();
    const etcd = u().etcd();
    const members = (await etcd.list(etcd.keys.members()).finally(() => etcd.close())).entries;
    addonPorts = members.flatMap((m) => (m.value as { addonServers?: string[] }).addonServers ?? []).map((s) => Number(s.split(':').pop()));
    assert.equal(addonPorts.length, 2, 'dynomesh up advertises its PostgreSQL and Redis');
    targets = {
      hostPorts: forbiddenPorts(),
      hostAddress: hostAddress(),
      keyDir: u().home,
      read: [join(u().home, 'cluster.key'), '/etc/dynomesh/cluster.key', '/root/.dynomesh/cluster.key', '/etc/shadow', join(u().home, 'up.json')],
      ls: [u().home, '/var/lib/dynomesh', '/etc/dynomesh', u().nodeDir, '/home', '/root', join(buildDir, 'cache')],
    };
    writeFileSync(canary.file, canary.body, { mode: 0o600 });
    mkdirSync(canary.dir, { mode: 0o700 });
    writeFileSync(join(canary.dir, 'keep'), canary.body, { mode: 0o600 });

    writeNormalApp(join(work, NICE));
    writeHostileApp(join(work, EVIL), targets);
    // Both builds at once: the hostile one runs while the normal one installs from the registry.
    await Promise.all([push(NICE, join(work, NICE)), push(EVIL, join(work, EVIL))]);
  }, { timeout: 200_000 });

  after(async () => {
    await up?.stop();
    up?.remove();
    for (const p of [canary.file, canary.dir]) rmSync(p, { recursive: true, force: true });
    if (work) rmSync(work, { recursive: true, force: true });
  }, { timeout: 150_000 });

  test('the normal app builds with a package from the npm registry and answers through the router', { timeout: 60_000 }, async () => {
    const p = pushes[NICE]!;
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /remote: -----> Node\.js app detected/);
    assert.match(p.stderr, /added 1 package/);
    assert.match(p.stderr, /remote: +Released v\d+/);
    const res = await eventually(async () => {
      const r = await u().get(NICE);
      return r.status === 200 ? r : undefined;
    }, 45_000, `${NICE} through the router`);
    assert.equal(res.body, 'Hello from node-hello on web.1\n');
  });

  test('build: its postinstall reaches nothing of the host, reads no key, and its leftover process dies with the step', { timeout: 60_000 }, async (t) => {
    const p = pushes[EVIL]!;
    assert.equal(p.code, 0, p.stderr);
    assert.match(p.stderr, /probe: 0 of \d+ connects answered/);
    assert.match(p.stderr, /remote: +Released v\d+/);
    // What the build saw, read back through its own dyno and the router.
    const cat = await eventually(async () => {
      const r = await u().get(EVIL, '/cat?path=/app/build-report.json');
      return r.status === 200 ? (JSON.parse(r.body) as { ok: boolean; text?: string }) : undefined;
    }, 45_000, `${EVIL} to answer`);
    assert.ok(cat.ok, 'no build report in the slug');
    const report = JSON.parse(cat.text!) as Survey;
    assert.equal(report.hostname, 'build');
    t.diagnostic(assertNothingReached(report, BUILD_GATEWAY, 'the build'));
    assertNothingSeen(report, 'the build', { [join(buildDir, 'cache')]: [EVIL] });
    assert.ok(report.background?.compilePid, 'the probe did not find bin/compile among its ancestors');

    // The leftover (setsid + nohup) beat while compile ran, and never lived to race the packing.
    const heartbeat = join(buildDir, 'cache', EVIL, 'heartbeat');
    const beats = readFileSync(heartbeat, 'utf8');
    assert.match(beats, /^\d+ started$/m, 'the leftover process never ran');
    assert.doesNotMatch(beats, /swapping|done/, 'the leftover process outlived bin/compile');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(readFileSync(heartbeat, 'utf8'), beats, 'the leftover process still runs');

    // No slug holds the cluster key; the hostile slug's race dir is the app's own.
    const slugDir = join(u().home, 'control/slugs');
    const slugs = readdirSync(slugDir).filter((f) => f.endsWith('.tgz'));
    assert.ok(slugs.length >= 2, `slugs: ${slugs.join(', ')}`);
    const raw = Buffer.from(keyHex, 'hex');
    let hostile = '';
    for (const f of slugs) {
      const tar = gunzipSync(readFileSync(join(slugDir, f)));
      assert.ok(!tar.includes(keyHex) && !tar.includes(raw), `slug ${f} holds the cluster key`);
      const listing = await run('tar', ['-tvzf', join(slugDir, f)]);
      if (listing.stdout.includes('build-report.json')) hostile = listing.stdout;
    }
    const race = hostile.split('\n').filter((l) => / race(\/|$| ->)/.test(l));
    assert.deepEqual(race.map((l) => [l[0], l.split(/\s+/).slice(5).join(' ')]), [['d', 'race/'], ['-', 'race/inside.txt']]);
  });

  test('dyno: through the router it answers, and reaches no host port, no metadata, no other app, no host file', { timeout: 60_000 }, async (t) => {
    const hello = await u().json<{ hello: string }>(EVIL, '/');
    assert.equal(hello.hello, 'web.1');
    const nice = await dynoOf(NICE);
    const other = [`${targets.hostAddress}:${nice.port}`, `${DYNO_GATEWAY}:${nice.port}`, `${nice.ip}:${nice.port}`];
    // The other app is there: from the host its published port answers.
    assert.ok(await reachableFromHost(targets.hostAddress, nice.port), `${NICE} is not published on ${targets.hostAddress}:${nice.port}`);
    const ports = forbiddenPorts();
    const s = await u().json<Survey>(EVIL, `/survey?ports=${ports.join(',')}&extra=${other.join(',')}`);
    t.diagnostic(assertNothingReached(s, DYNO_GATEWAY, 'the web dyno'));
    for (const t of other) assert.ok(s.tcp.some((r) => r.target === t), `did not try ${t}`);
    assertNothingSeen(s, 'the web dyno');
    // The other app's files on the host, by their path there.
    const niceDir = readdirSync(join(u().nodeDir, 'dynos', NICE)).find((d) => d.startsWith('web.1.'));
    assert.ok(niceDir, `no run dir of ${NICE}`);
    const r = await u().json<{ path: string; ok: boolean; code?: string }[]>(EVIL, `/read?paths=${join(u().nodeDir, 'dynos', NICE, niceDir, 'server.js')},${join(buildDir, 'cache', NICE)}`);
    assert.deepEqual(r.map((x) => x.code), ['ENOENT', 'ENOENT']);
  });

  test('one-off: `dynomesh run` reaches nothing of the host and sees only itself', { timeout: 90_000 }, async (t) => {
    const nice = await dynoOf(NICE);
    const other = [`${targets.hostAddress}:${nice.port}`, `${nice.ip}:${nice.port}`];
    const r = await u().cli('run', '-a', EVIL, '--', 'node', 'probe.js', 'oneoff', other.join(','));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Running node probe\.js oneoff .* on ⬢ push-evil\.\.\. up, run\.\d+/);
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!) as Survey;
    assert.match(s.hostname, /^run\.\d+$/);
    t.diagnostic(assertNothingReached(s, DYNO_GATEWAY, 'the one-off'));
    assertNothingSeen(s, 'the one-off');
  });

  test('one-off: it cannot make namespaces of its own (user namespaces hand it every capability inside)', {
    timeout: 60_000,
  }, async () => {
    const r = await u().cli('run', '-a', EVIL, '--', 'sh', '-c', 'grep "^Seccomp:" /proc/self/status; unshare -Ur id -u');
    assert.equal(r.code === 0 || r.code === 1, true, r.stderr);
    assert.doesNotMatch(r.stdout, /^Seccomp:\s+0$/m, 'no seccomp filter');
    assert.doesNotMatch(r.stdout, /^0$/m, 'uid 0 in a user namespace of its own');
  });

  test('fork bomb: it stops at its pids limit and the normal app keeps answering meanwhile', { timeout: 90_000 }, async () => {
    const forking = u().json<{ started: number; error: string | null }>(EVIL, '/fork?n=2000', 60_000);
    let done = false;
    void forking.finally(() => (done = true)).catch(() => undefined);
    const statuses: number[] = [];
    while (!done) {
      statuses.push((await u().get(NICE)).status);
      await new Promise((r) => setTimeout(r, 100));
    }
    const f = await forking;
    assert.ok(f.error, `forked ${f.started} processes without hitting a limit`);
    assert.ok(f.started > 50 && f.started < 300, `started ${f.started} before ${f.error}`);
    statuses.push((await u().get(NICE)).status);
    assert.ok(statuses.length >= 2);
    assert.deepEqual(statuses.filter((s) => s !== 200), [], `${NICE} answered ${statuses.join(',')}`);
    await u().json(EVIL, '/unfork');
  });

  test('restart: /app symlinks to root-owned files outside leave them untouched, and the new dyno gets a fresh /app', { timeout: 90_000 }, async () => {
    const before = await u().json<{ boot: string }>(EVIL, '/whoami');
    for (const [path, target] of [['/app/Procfile', canary.file], ['/app/package.json', canary.file], ['/app/.profile.d', canary.dir], ['/app/race', canary.dir]]) {
      const s = await u().json<{ ok: boolean; link: string }>(EVIL, `/swap?path=${path}&target=${target}`);
      assert.equal(s.link, target);
    }
    await u().json(EVIL, '/write?paths=/app/marker');
    const links = await u().json<{ path: string; type: string }[]>(EVIL, '/lstat?paths=/app/Procfile,/app/.profile.d,/app/marker');
    assert.deepEqual(links.map((l) => l.type), ['link', 'link', 'file']);

    const r = await u().ok('ps:restart', '-a', EVIL);
    assert.match(r.stderr, /Restarting dynos on ⬢ push-evil\.\.\. done/);
    const after = await eventually(async () => {
      const w = await u().get(EVIL, '/whoami');
      const b = w.status === 200 ? (JSON.parse(w.body) as { boot: string }) : undefined;
      return b && b.boot !== before.boot ? b : undefined;
    }, 60_000, `${EVIL} to come back as a new process`);
    assert.notEqual(after.boot, before.boot);

    const fresh = await u().json<{ path: string; type: string }[]>(EVIL, '/lstat?paths=/app/Procfile,/app/package.json,/app/.profile.d,/app/race,/app/marker');
    assert.deepEqual(fresh.map((l) => l.type), ['file', 'file', 'dir', 'dir', 'ENOENT']);
    // The old /app is gone from the host (root removed it without following its links), the canaries are as made.
    // One run dir left (its /app volume's mount point and image), the old one's gone.
    await eventually(() => readdirSync(join(u().nodeDir, 'dynos', EVIL)).filter((f) => !f.endsWith('.img')).length === 1, 20_000, 'the old run dir to be removed');
    for (const [path, mode] of [[canary.file, 0o600], [join(canary.dir, 'keep'), 0o600], [canary.dir, 0o700]] as const) {
      const st = statSync(path);
      assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [0, 0, mode], `${path} changed owner or mode`);
    }
    assert.equal(readFileSync(canary.file, 'utf8'), canary.body);
    assert.equal(readFileSync(join(canary.dir, 'keep'), 'utf8'), canary.body);
    assert.equal((await u().get(NICE)).status, 200);
  });

  test('disk: what it writes to /app is bounded, as /tmp is', async () => {
    const gb = (n: number) => `${(n / 1024 ** 3).toFixed(1)} GB`;
    const tmp = await u().json<{ bytes: number }>(EVIL, '/statfs?path=/tmp');
    assert.ok(tmp.bytes <= 1024 ** 3, `/tmp holds ${gb(tmp.bytes)}`);
    const app = await u().json<{ bytes: number; free: number }>(EVIL, '/statfs?path=/app');
    const host = statfsSync(u().nodeDir);
    assert.ok(app.bytes <= 4 * 1024 ** 3, `/app is a ${gb(app.bytes)} filesystem with ${gb(app.free)} free (the host's, under ${u().nodeDir}: ${gb(host.blocks * host.bsize)})`);
  });
});
