/**
 * The namespace cluster leaves nothing behind: Ctrl-C on `deploy/netns/main.ts up`
 * removes every namespace, link, process and its data dir; after a SIGKILL (no
 * chance to clean up) the next `cleanup` removes what the dead run left.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually } from '../support/etcd.ts';
import { ROOT } from './support.ts';

function up(): { child: ChildProcess; out: () => string } {
  let out = '';
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'deploy/netns/main.ts'), 'up'], {
    cwd: ROOT, env: { ...process.env, DYNOMESH_LOG_LEVEL: 'warn', NODE_TEST_CONTEXT: '' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  return { child, out: () => out };
}

async function started(u: ReturnType<typeof up>): Promise<string> {
  const m = await eventually(() => {
    if (u.child.exitCode !== null) throw new Error(`netns up exited ${u.child.exitCode}: ${u.out()}`);
    return /netns cluster ([0-9a-f]{5}) is up/.exec(u.out()) ?? undefined;
  }, 120_000, 'the netns cluster');
  return m[1]!;
}

/** Namespaces, links and processes of a run still present (empty when all is gone). */
function leftovers(run: string): string[] {
  const ns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`dmnet-${run}-`));
  const links = execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`dm${run}`) || l.includes(`dmb${run}`));
  const procs = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).split('\n').filter((l) => l.includes(`dmnet-${run}`));
  return [...ns, ...links, ...procs, ...(existsSync(`/tmp/dmnet-${run}`) ? [`/tmp/dmnet-${run}`] : [])];
}

describe('netns cluster teardown', () => {
  test('Ctrl-C removes every namespace, link, process and the data dir', async () => {
    const u = up();
    const run = await started(u);
    assert.ok(leftovers(run).length >= 10, 'the running cluster is visible');
    const exited = new Promise<number | null>((r) => u.child.once('exit', (code) => r(code)));
    u.child.kill('SIGINT');
    assert.equal(await exited, 130);
    assert.deepEqual(leftovers(run), []);
  });

  test('after a SIGKILL, the next cleanup removes what the dead run left', async () => {
    const u = up();
    const run = await started(u);
    const exited = new Promise<void>((r) => u.child.once('exit', () => r()));
    u.child.kill('SIGKILL');
    await exited;
    assert.ok(leftovers(run).length >= 10, 'the daemons outlive their killed owner');
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(ROOT, 'deploy/netns/main.ts'), 'cleanup'], { cwd: ROOT, encoding: 'utf8' });
    assert.match(out, new RegExp(`removed stale runs: .*${run}`));
    assert.deepEqual(leftovers(run), []);
  });
});
