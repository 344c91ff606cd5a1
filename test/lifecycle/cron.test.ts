/**
 * app.json cron through a real git push, on two control instances: a job set to
 * every minute runs exactly once per minute, also in the minute whose tick falls
 * while the leader is SIGKILLed and the other instance takes over; its output is
 * in the app's logs; `dynomesh cron` shows the last run and its exit status.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, useEtcd } from '../support/etcd.ts';
import { Stack } from './stack.ts';

const etcd = useEtcd();
const APP = 'ticker';
const FIXTURE = join(import.meta.dirname, 'apps/cron');

describe('cron jobs from the control leader', () => {
  let s: Stack;
  let markers: string;
  /** Runs as [minute of the run (ISO, to the minute), dyno]. */
  const runs = () => (existsSync(join(markers, 'ticks')) ? readFileSync(join(markers, 'ticks'), 'utf8').trim().split('\n').map((l) => [l.slice(0, 16), l.split(' ')[1]!] as const) : []);

  before(async () => {
    s = await Stack.start(etcd, { controls: 2 });
    markers = join(s.dir, 'markers');
    mkdirSync(markers);
    chmodSync(markers, 0o777);
    await s.ok('apps:create', APP);
    await s.ok('config:set', `MARKER_DIR=${markers}`, '-a', APP);
    const files: Record<string, string> = {};
    for (const f of readdirSync(FIXTURE)) files[f] = readFileSync(join(FIXTURE, f), 'utf8');
    const repo = await s.repo(files);
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /Scheduled jobs \(app\.json cron\): "\* \* \* \* \*" node tick\.js/);
  });
  after(async () => {
    await s?.stop();
  });

  test('every minute, exactly once, across a leader kill', async () => {
    // Kill the leader 2 s before a minute boundary (one the leader has seen the job before), so that tick
    // falls while no one leads; then the minute after it runs under the new leader.
    const boundary = Math.ceil((Date.now() + 10_000) / 60_000) * 60_000;
    await new Promise((r) => setTimeout(r, Math.max(0, boundary - 2000 - Date.now())));
    const health = await Promise.all(s.apiUrls.map(async (u) => (await (await fetch(`${u}/health`)).json()) as { leader: boolean }));
    const leader = health.findIndex((h) => h.leader);
    assert.ok(leader >= 0, 'one control leads');
    s.controls[leader]!.proc.kill('SIGKILL');
    const survivor = s.apiUrls[1 - leader]!;
    await eventually(() => runs().some(([m]) => Date.parse(`${m}:00Z`) >= boundary + 60_000), 100_000, 'a run in the minute after the failover');
    await new Promise((r) => setTimeout(r, 5000)); // a duplicate would have shown by now
    const perMinute = new Map<string, number>();
    for (const [m] of runs()) perMinute.set(m, (perMinute.get(m) ?? 0) + 1);
    const minutes = [...perMinute.keys()].sort();
    assert.ok(minutes.length >= 2, `two minutes ran: ${minutes.join(', ')}`);
    for (const [m, n] of perMinute) assert.equal(n, 1, `minute ${m} ran ${n} times: ${JSON.stringify(runs())}`);
    for (let i = 1; i < minutes.length; i++) {
      assert.equal(Date.parse(`${minutes[i]}:00Z`) - Date.parse(`${minutes[i - 1]}:00Z`), 60_000, `no minute skipped: ${minutes.join(', ')}`);
    }
    assert.ok(minutes.includes(new Date(boundary).toISOString().slice(0, 16)), 'the failover minute ran');
    assert.ok(runs().every(([, dyno]) => /^scheduler\.\d+$/.test(dyno)), 'each run is a scheduler.N dyno');

    const cron = await eventually(async () => {
      const r = await s.cliAt(survivor, 'cron', '-a', APP);
      return r.code === 0 && /exit 0/.test(r.stdout) ? r.stdout : undefined;
    }, 30_000, 'cron shows the last run and its exit status');
    assert.match(cron, /\* \* \* \* \*\s+node tick\.js\s+.*scheduler\.\d+ exit 0/);
    const logs = await s.cliAt(survivor, 'logs', '-a', APP, '-n', '300');
    assert.match(logs.stdout, /app\[scheduler\.\d+\]: tick done/);
  });
});
