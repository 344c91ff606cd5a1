/**
 * The newcomer's path, end to end, as a user drives it: `dynomesh up` (real etcd,
 * control, dyno-node and router processes on loopback, temp HOME and CLI config),
 * then the CLI and real `git push` against it, and requests through the router.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/ports.ts';
import { Cluster } from '../../cluster/client.ts';
import { ROUTER_USER } from '../../cluster/etcd-auth.ts';
import { eventually } from '../support/etcd.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = join(ROOT, 'bin/dynomesh.js');
const APP = 'e2e-hello';

let dir: string;
let repo: string;
let env: NodeJS.ProcessEnv;
let routerPort: number;
let apiPort: number;
let up: ChildProcess | undefined;
let upOut = '';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end (killed after `timeoutMs`, so a hang fails the step instead of the suite). */
function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number; onStdout?: (text: string, stdin: NodeJS.WritableStream) => void } = {},
): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: opts.cwd ?? repo, env: opts.env ?? env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `\n[killed after ${opts.timeoutMs ?? 120_000} ms]`;
      p.kill('SIGKILL');
    }, opts.timeoutMs ?? 120_000);
    p.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      opts.onStdout?.(stdout, p.stdin);
    });
    p.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (!opts.onStdout) p.stdin.end(opts.input ?? '');
  });
}

const cli = (...args: string[]) => run(process.execPath, [BIN, ...args]);

async function ok(...args: string[]): Promise<Run> {
  const r = await cli(...args);
  assert.equal(r.code, 0, `dynomesh ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** A request through the router from a chosen loopback source address (ip affinity hashes on it). */
function get(app: string, from = '127.0.0.1', host = `${app}.localhost`): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: routerPort, path: '/', headers: { host }, localAddress: from, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end();
  });
}

async function startUp(): Promise<void> {
  upOut = '';
  const p = spawn(process.execPath, [BIN, 'up', '--port', String(routerPort), '--api-port', String(apiPort), '--quiet'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  up = p;
  p.stdout!.on('data', (c: Buffer) => (upOut += c.toString()));
  p.stderr!.on('data', (c: Buffer) => (upOut += c.toString()));
  await eventually(() => {
    if (p.exitCode !== null) throw new Error(`dynomesh up exited ${p.exitCode}: ${upOut}`);
    return upOut.includes('dynomesh is up.');
  }, 90_000, 'dynomesh up');
}

/** Ctrl-C: everything stops, exit 0, none of its daemons left running. */
async function stopUp(): Promise<number | null> {
  const p = up!;
  up = undefined;
  if (p.exitCode !== null) return p.exitCode;
  const state = JSON.parse(readFileSync(join(env.HOME!, '.dynomesh/up.json'), 'utf8')) as { children: { name: string; pid: number }[] };
  const exited = new Promise<number | null>((r) => p.once('exit', (code) => r(code)));
  p.kill('SIGINT');
  const code = await exited;
  for (const c of state.children) {
    assert.throws(() => process.kill(c.pid, 0), `${c.name} (pid ${c.pid}) still runs after dynomesh up stopped`);
  }
  return code;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dm-cli-e2e-'));
  chmodSync(dir, 0o711); // dyno users (as root) traverse into the node dir
  mkdirSync(join(dir, 'node'), { mode: 0o711 });
  mkdirSync(join(dir, 'home'));
  routerPort = await freePort();
  apiPort = await freePort();
  env = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    DYNOMESH_CONFIG: join(dir, 'cli.json'),
    DYNOMESH_NODE_DIR: join(dir, 'node'),
    DYNOMESH_LOG_LEVEL: 'info',
    // The drain test's syslog receiver is on loopback, which tenants reach only when the operator allows it.
    DYNOMESH_OUTBOUND_ALLOW: '127.0.0.1/32',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'e2e', GIT_AUTHOR_EMAIL: 'e2e@example.com', GIT_COMMITTER_NAME: 'e2e', GIT_COMMITTER_EMAIL: 'e2e@example.com',
  };
  repo = join(dir, 'hello');
  cpSync(join(ROOT, 'examples/node-hello'), repo, { recursive: true });
  execFileSync('git', ['init', '-q', '-b', 'main'], { cwd: repo, env });
  execFileSync('git', ['add', '.'], { cwd: repo, env });
  execFileSync('git', ['commit', '-qm', 'first deploy'], { cwd: repo, env });
  await startUp();
});

after(async () => {
  if (up) await stopUp().catch(() => up?.kill('SIGKILL'));
  rmSync(dir, { recursive: true, force: true });
});

describe('dynomesh up, the CLI and git push, as a user', () => {
  test('up prints the API, the admin token and the router, and logs the CLI in (0600)', async () => {
    assert.match(upOut, new RegExp(`Platform API  http://127\\.0\\.0\\.1:${apiPort}`));
    assert.match(upOut, /Admin token {3}dm_\S+ {2}\(shown once/);
    assert.match(upOut, new RegExp(`apps answer at http://<app>\\.localhost:${routerPort}`));
    assert.match(upOut, /git push dynomesh main/);
    const cfg = JSON.parse(readFileSync(env.DYNOMESH_CONFIG!, 'utf8')) as { apiUrl: string; token: string };
    assert.equal(cfg.apiUrl, `http://127.0.0.1:${apiPort}`);
    assert.ok(upOut.includes(cfg.token));
    assert.equal((await ok('auth:whoami')).stdout, 'admin\n');
  });

  test('its etcd takes only client certificates (0600); the router\'s reads routing/ and cannot write', async () => {
    const home = join(env.HOME!, '.dynomesh');
    const port = (JSON.parse(readFileSync(join(home, 'up.json'), 'utf8')) as { etcd: { clientPort: number } }).etcd.clientPort;
    const pki = join(home, 'pki');
    assert.equal(statSync(pki).mode & 0o777, 0o700);
    for (const f of readdirSync(pki)) assert.equal(statSync(join(pki, f)).mode & 0o777, 0o600, f);
    const ca = readFileSync(join(pki, 'ca.crt'));
    const as = (user: string | null, scheme = 'https') => new Cluster({
      endpoints: [`${scheme}://127.0.0.1:${port}`], prefix: '/dynomesh/', callTimeoutMs: 3000,
      tls: user ? { ca, cert: readFileSync(join(pki, `${user}.crt`)), key: readFileSync(join(pki, `${user}.key`)) } : { ca },
    });
    const clients = [as(null, 'http'), as(null), as(ROUTER_USER)];
    try {
      const [plain, anonymous, router] = clients as [Cluster, Cluster, Cluster];
      await assert.rejects(plain.revision(), 'plain HTTP');
      await assert.rejects(anonymous.revision(), 'TLS without a client certificate');
      await router.list(router.keys.domains());
      await assert.rejects(router.put(router.keys.domain('evil.localhost'), { app: 'x' }), /permission denied/i);
      await assert.rejects(router.list(router.keys.tokens()), /permission denied/i);
    } finally {
      for (const c of clients) c.close();
    }
  });

  test('apps:create adds the dynomesh remote; git push builds and releases', async () => {
    const created = await ok('apps:create', APP);
    assert.equal(created.stdout, `http://${APP}.localhost:${routerPort}/ | http://127.0.0.1:${apiPort}/${APP}.git\n`);
    assert.match(created.stderr, /Git remote dynomesh added/);
    const push = await run('git', ['push', 'dynomesh', 'main']);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /remote: -----> Node\.js app detected/);
    assert.match(push.stderr, /remote: +Released v2/);
    // The first isolated dyno of an app (its user, /app volume, container) took over 60 s to answer on the
    // 2-core CI beside the other shard; this whole case takes 16 s on a quieter machine. What is tested is that it answers.
    const res = await eventually(async () => {
      const r = await get(APP);
      return r.status === 200 ? r : undefined;
    }, 120_000, 'the app to answer through the router');
    assert.equal(res.body, 'Hello from node-hello on web.1\n');
    const apps = JSON.parse((await ok('apps', '--json')).stdout) as { name: string; current_release: { version: number } }[];
    assert.equal(apps.find((a) => a.name === APP)?.current_release.version, 2);
    assert.match((await ok('builds')).stdout, /succeeded/);
  });

  test('config:set makes a release and restarts the dynos with the new env', async () => {
    const set = await ok('config:set', 'GREETING=Howdy', 'DATABASE_URL=postgres://u:p@db/x?a=b=c');
    assert.match(set.stderr, /Setting GREETING, DATABASE_URL and restarting ⬢ e2e-hello\.\.\. done, v3/);
    assert.equal((await ok('config:get', 'DATABASE_URL')).stdout, 'postgres://u:p@db/x?a=b=c\n');
    // The roll starts a new dyno before stopping the old one, so which web.N answers may change.
    await eventually(async () => /^Howdy from node-hello on web\.\d+\n$/.test((await get(APP)).body), 60_000, 'the new GREETING in the response');
    const dynos = JSON.parse((await ok('ps', '--json')).stdout) as { release: { version: number } }[];
    assert.ok(dynos.every((d) => d.release.version === 3));
  });

  test('ps:scale web=3 waits for three dynos, and requests spread over them', async () => {
    const scaled = await ok('ps:scale', 'web=3');
    assert.match(scaled.stderr, /Scaling dynos\.\.\. done, now running web at 3:Standard-1X/);
    assert.match(scaled.stderr, /Dynos are up: web 3\/3 up/);
    const dynos = JSON.parse((await ok('ps', '--json')).stdout) as { name: string; state: string }[];
    assert.deepEqual(dynos.map((d) => d.state), ['up', 'up', 'up']);
    const seen = new Set<string>();
    for (let i = 2; i < 42; i++) {
      const r = await get(APP, `127.0.0.${i}`);
      assert.equal(r.status, 200);
      seen.add(r.body.trim().split(' on ')[1]!);
    }
    assert.deepEqual([...seen].sort(), dynos.map((d) => d.name).sort());
    assert.match((await ok('ps')).stdout, /^=== web \(Standard-1X\): node server\.js \(3\)$/m);
  });

  test('run: a one-off dyno attached to the terminal, with stdin and the exit status', async () => {
    // Like a person at a prompt: type once the command has said it is ready.
    let typed = false;
    const script = 'console.log("ready");let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{console.log(process.env.GREETING, s.trim());console.error("err-line");process.exit(7)})';
    const r = await run(process.execPath, [BIN, 'run', '--', 'node', '-e', script], {
      timeoutMs: 60_000,
      onStdout: (out, stdin) => {
        if (!typed && out.includes('ready\n')) {
          typed = true;
          stdin.end('from-stdin\n');
        }
      },
    });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'ready\nHowdy from-stdin\n');
    assert.match(r.stderr, /Running node -e .* on ⬢ e2e-hello\.\.\. up, run\.\d+/);
    assert.match(r.stderr, /err-line/);
  });

  test('day-two commands: maintenance, domains, restart, stop, drains, login, a second up', async () => {
    await ok('maintenance:on');
    assert.equal((await ok('maintenance')).stdout, 'on\n');
    await eventually(async () => (await get(APP)).status === 503, 20_000, 'maintenance mode (503) at the router');
    await ok('maintenance:off');
    await eventually(async () => (await get(APP)).status === 200, 20_000, 'the app back after maintenance');

    assert.equal((await ok('open', '/health')).stdout, `http://${APP}.localhost:${routerPort}/health\n`);
    await ok('domains:add', 'www.e2e-hello.test');
    assert.match((await ok('domains')).stdout, /=== e2e-hello Default Domain\ne2e-hello\.localhost\n[\s\S]*www\.e2e-hello\.test +succeeded/);
    await eventually(async () => (await get('', '127.0.0.1', 'www.e2e-hello.test')).status === 200, 20_000, 'the custom domain to route');

    // A restart shows in the dyno's own log: a new process starts after we asked.
    const t0 = new Date().toISOString().slice(0, 23);
    assert.match((await ok('ps:restart', 'web.1')).stderr, /Restarting web\.1 dyno on ⬢ e2e-hello\.\.\. done, 1 restarting/);
    await eventually(async () => (await ok('logs', '-n', '30', '--dyno', 'web.1')).stdout.split('\n')
      .some((l) => l.slice(0, 23) > t0 && l.includes('heroku[web.1]: Starting process with command `node server.js`')), 30_000, 'web.1 to restart');
    assert.match((await ok('ps:stop', 'web.2')).stderr, /Stopping web\.2 dyno on ⬢ e2e-hello\.\.\. done, 1 stopped/);
    await eventually(async () => {
      const now = JSON.parse((await ok('ps', '--json')).stdout) as { state: string }[];
      return now.length === 3 && now.every((d) => d.state === 'up'); // a formation dyno comes back fresh
    }, 30_000, 'the stopped formation dyno to be replaced');

    const bad = await run(process.execPath, [BIN, 'login', '--api', `http://127.0.0.1:${apiPort}`], { input: 'dm_not-a-real-token-at-all\n', env: { ...env, DYNOMESH_CONFIG: join(dir, 'other.json') } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /invalid or revoked API token/);
    const token = (await ok('auth:token')).stdout;
    const good = await run(process.execPath, [BIN, 'login', '--api', `http://127.0.0.1:${apiPort}`], { input: token, env: { ...env, DYNOMESH_CONFIG: join(dir, 'other.json') } });
    assert.equal(good.code, 0, good.stderr);
    assert.equal(statSync(join(dir, 'other.json')).mode & 0o777, 0o600);

    const drainPort = await freePort();
    assert.match((await ok('drains:add', `syslog://127.0.0.1:${drainPort}`)).stdout, new RegExp(`^syslog://127\\.0\\.0\\.1:${drainPort} \\(token d\\.`));
    assert.match((await ok('drains')).stdout, new RegExp(`=== e2e-hello Drains\\nURL[\\s\\S]*syslog://127\\.0\\.0\\.1:${drainPort}`));
    await ok('drains:remove', `syslog://127.0.0.1:${drainPort}`);
    assert.match((await ok('drains')).stdout, /has no drains/);

    const second = await cli('up', '--port', String(routerPort), '--api-port', String(apiPort));
    assert.equal(second.code, 1);
    assert.match(second.stderr, /dynomesh up is already running \(pid \d+/);
  });

  test('rollback goes back to the previous release, code and config', async () => {
    const rb = await ok('rollback');
    assert.match(rb.stderr, /Rolling back ⬢ e2e-hello to v2\.\.\. done, v4/);
    await eventually(async () => (await get(APP)).body.startsWith('Hello from node-hello'), 60_000, 'the rolled-back response');
    const releases = JSON.parse((await ok('releases', '--json')).stdout) as { version: number; description: string; current: boolean }[];
    assert.deepEqual(releases.map((r) => r.version), [4, 3, 2, 1]);
    assert.equal(releases[0]!.description, 'Rollback to v2');
    assert.ok(releases[0]!.current);
  });

  test('logs -n 50 shows router and app lines; --source api the platform events', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await get(APP)).status, 200);
    let last = '';
    await eventually(async () => {
      last = (await ok('logs', '-n', '50')).stdout;
      return /heroku\[router\]: at=info method=GET path="\/" host=e2e-hello\.localhost/.test(last) && /app\[web\.\d+\]: GET \/ -> 200/.test(last);
    }, 20_000, 'router and app lines in the logs').catch((err: Error) => {
      throw new Error(`${err.message}; last output:\n${last}`);
    });
    assert.ok(last.split('\n').filter(Boolean).length <= 50);
    const api = (await ok('logs', '-n', '50', '--source', 'api')).stdout;
    assert.match(api, /app\[api\]: Rollback to v2 by admin/);
    assert.match(api, /app\[api\]: Set GREETING, DATABASE_URL config vars by admin/);
    assert.ok(api.split('\n').filter(Boolean).every((l) => l.includes(' app[api]: ')));
  });

  test('Ctrl-C stops everything; the next up keeps apps, releases and config', async () => {
    assert.equal(await stopUp(), 0);
    await startUp();
    assert.match(upOut, /CLI {11}logged in/);
    assert.doesNotMatch(upOut, /Admin token/);
    const releases = JSON.parse((await ok('releases', '--json')).stdout) as { version: number }[];
    assert.equal(releases[0]!.version, 4);
    await eventually(async () => (await get(APP)).status === 200, 60_000, 'the app to answer after a restart');
  });

  test('errors are one line with the fix, and exit 1', async () => {
    const missing = await cli('apps:info', '-a', 'no-such-app');
    assert.equal(missing.code, 1);
    assert.equal(missing.stderr, " ▸    Couldn't find that app: no-such-app. Check the name with `dynomesh apps`.\n");
    const bad = await cli('ps:scale', 'web=lots');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^ ▸ {4}"web=lots" is not a scale argument; write TYPE=QUANTITY/);
    const down = await run(process.execPath, [BIN, 'apps'], { env: { ...env, DYNOMESH_API_URL: `http://127.0.0.1:${await freePort()}` } });
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); start one with `dynomesh up`/);
    const noConfirm = await cli('apps:destroy');
    assert.equal(noConfirm.code, 1);
    assert.match(noConfirm.stderr, /re-run with --confirm e2e-hello/);
  });

  test('apps:destroy removes the app, its remote and its route', async () => {
    const d = await ok('apps:destroy', '--confirm', APP);
    assert.match(d.stderr, /Destroying ⬢ e2e-hello\.\.\. done/);
    assert.match(d.stderr, /Git remote dynomesh removed/);
    const apps = JSON.parse((await ok('apps', '--json')).stdout) as { name: string }[];
    assert.ok(!apps.some((a) => a.name === APP));
    await eventually(async () => (await get(APP)).status === 404, 20_000, 'the router to stop routing the app');
  });
});
