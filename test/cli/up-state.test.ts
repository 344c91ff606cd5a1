import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clearPid, isDynomesh, readState, reapLeftovers, statePath, writeState } from '../../cli/up/state.ts';
import { eventually } from '../support/etcd.ts';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-up-state-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const FIXTURE = fileURLToPath(new URL('./fixtures/orphan.ts', import.meta.url));

describe('dynomesh up bookkeeping', () => {
  test('the state file keeps etcd ports across runs and drops the pid on stop', () => {
    writeState(dir, { etcd: { clientPort: 1, peerPort: 2 }, pid: 42, children: [{ name: 'etcd', pid: 43 }] });
    assert.deepEqual(readState(dir).etcd, { clientPort: 1, peerPort: 2 });
    clearPid(dir);
    assert.deepEqual(readState(dir), { etcd: { clientPort: 1, peerPort: 2 } });
    rmSync(statePath(dir));
    assert.deepEqual(readState(dir), {});
  });

  test('leftover daemons are stopped; unrelated processes with a reused pid are not', async () => {
    // argv mentions dynomesh, as `node bin/dynomesh.js router` does.
    const daemon = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'dynomesh-router'], { stdio: 'ignore' });
    const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await eventually(() => isDynomesh(daemon.pid), 5000, 'the fake daemon');
      assert.equal(isDynomesh(other.pid), false);
      const exited = new Promise((r) => daemon.once('exit', r));
      const reaped = await reapLeftovers({ children: [{ name: 'router', pid: daemon.pid! }, { name: 'control', pid: other.pid! }] }, 5000);
      assert.deepEqual(reaped, ['router']);
      await exited;
      assert.equal(other.exitCode, null);
    } finally {
      other.kill('SIGKILL');
      daemon.kill('SIGKILL');
    }
  });

  test('a daemon whose `up` was SIGKILLed stops itself with SIGTERM', async () => {
    const mark = join(dir, 'orphan');
    // A parent that starts the daemon as `up` would (env names the parent), then waits.
    const parent = spawn(process.execPath, ['-e', `
      const { spawn } = require('node:child_process');
      spawn(process.execPath, ['--import', 'tsx', ${JSON.stringify(FIXTURE)}, ${JSON.stringify(mark)}],
        { stdio: 'ignore', detached: true, env: { ...process.env, DYNOMESH_SUPERVISOR_PID: String(process.pid) } });
      setInterval(() => {}, 1000);
    `], { stdio: 'ignore' });
    try {
      await eventually(() => existsSync(`${mark}.ready`), 20_000, 'the daemon to start');
      assert.equal(existsSync(mark), false);
      parent.kill('SIGKILL');
      await eventually(() => existsSync(mark), 10_000, 'the orphaned daemon to stop itself');
      // The variable is removed from its environment so dynos it starts do not inherit it.
      assert.equal(readFileSync(mark, 'utf8'), 'SIGTERM cleared\n');
    } finally {
      parent.kill('SIGKILL');
      const pid = existsSync(`${mark}.ready`) ? Number(readFileSync(`${mark}.ready`, 'utf8')) : 0;
      if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    }
  });
});
