/**
 * The README's first command: `npm run up` (scripts/up.sh) starts the cluster in
 * the background, git-pushes examples/node-hello and prints a URL that answers
 * 200 through the router; a second run reuses all of it. Installation is skipped
 * (the suite has done it); a fresh clone runs it too (`.ci/run`).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/ports.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
let dir: string;
let env: NodeJS.ProcessEnv;
let routerPort: number;

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), 180_000); // up.sh bounds its own waits; this bounds the rest
    p.stdout.on('data', (c: Buffer) => (out += c.toString()));
    p.stderr.on('data', (c: Buffer) => (out += c.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function get(host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port: routerPort, path: '/', headers: { host }, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

/** Exited: no such process, or a zombie its (re)parent has not reaped yet. */
function gone(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').startsWith('Z');
  } catch {
    return true;
  }
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dm-npm-up-'));
  chmodSync(dir, 0o711);
  mkdirSync(join(dir, 'node'), { mode: 0o711 });
  routerPort = await freePort();
  env = {
    PATH: process.env.PATH,
    HOME: join(dir, 'home'),
    DYNOMESH_NODE_DIR: join(dir, 'node'),
    DYNOMESH_ROUTER_PORT: String(routerPort),
    DYNOMESH_API_PORT: String(await freePort()),
    DYNOMESH_SKIP_INSTALL: '1',
  };
});

after(async () => {
  await run(process.execPath, [join(ROOT, 'bin/dynomesh.js'), 'down']).catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
});

test('npm run up ends with a URL that answers 200 through the router, and runs again idempotently', async () => {
  const first = await run('bash', ['scripts/up.sh']);
  assert.equal(first.code, 0, first.out);
  const url = `http://hello.localhost:${routerPort}/`;
  assert.ok(first.out.includes(`hello answers through the router: ${url}`), first.out);
  assert.ok(first.out.includes('Hello from node-hello on web.1'), first.out);
  assert.match(first.out, /remote: +Released v2/);
  const res = await get(`hello.localhost:${routerPort}`);
  assert.equal(res.status, 200);
  assert.equal(res.body, 'Hello from node-hello on web.1\n');

  const second = await run('bash', ['scripts/up.sh']);
  assert.equal(second.code, 0, second.out);
  assert.match(second.out, /dynomesh up is already running \(pid \d+\)/);
  assert.match(second.out, /app hello exists/);
  assert.match(second.out, /Everything up-to-date/);
  assert.ok(second.out.includes(`hello answers through the router: ${url}`));

  const state = JSON.parse(readFileSync(join(dir, 'home/.dynomesh/up.json'), 'utf8')) as { pid: number; children: { pid: number }[] };
  const down = await run(process.execPath, [join(ROOT, 'bin/dynomesh.js'), 'down']);
  assert.equal(down.code, 0, down.out);
  for (const p of [state.pid, ...state.children.map((c) => c.pid)]) assert.ok(gone(p), `pid ${p} still runs`);
});
