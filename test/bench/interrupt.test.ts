/**
 * Ctrl-C in the middle of a bench stops everything it started and removes its temp dir.
 * Runs the real bench (nginx + direct, quick) with its own TMPDIR and interrupts it once
 * the first measurement is under way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBinary } from '../../bench/targets/nginx.ts';

function processesMentioning(text: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(text)) out.push(`${pid}: ${cmd}`);
    } catch { /* gone */ }
  }
  return out;
}

test('SIGINT mid-run: exit 130, no process left, temp dir removed', { skip: findBinary('nginx') && findBinary('wrk') ? false : 'needs nginx and wrk', timeout: 90_000 }, async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'bench-sigint-'));
  try {
    const child = spawn(process.execPath, ['--import', 'tsx', 'bench/main.ts', '--quick', '--targets', 'nginx,direct', '--duration', '5s', '--out', join(tmp, 'out.json')], {
      env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    const started = new Promise<void>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        err += d;
        if (err.includes('placement (taskset)') && readdirSync(tmp).some((f) => f.startsWith('dynomesh-bench-'))) resolve();
      });
    });
    child.stdout.resume();
    await started;
    // Wait until nginx (whose command line names the temp dir) is up, then interrupt.
    const deadline = Date.now() + 45_000;
    while (processesMentioning(tmp).length === 0) {
      assert.ok(Date.now() < deadline, `nginx never started under ${tmp}: ${err}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    assert.equal(code, 130, err);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(processesMentioning(tmp), []);
    assert.deepEqual(readdirSync(tmp).filter((f) => f.startsWith('dynomesh-bench-')), [], 'the bench temp dir is removed');
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
