/**
 * Health-checked cut-over through real git pushes (apps/health): a release whose
 * web dynos fail app.json's `healthchecks.web` never takes traffic; the old dynos
 * keep serving every request, including ones in flight across the attempt; `ps`
 * says why; a fixed push then cuts over.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, useEtcd } from '../support/etcd.ts';
import { Stack, type AppRepo } from './stack.ts';
import { listEndpointsOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();
const APP = 'checked';
const FIXTURE = join(import.meta.dirname, 'apps/health');

describe('health checks gate the cut-over', () => {
  let s: Stack;
  let repo: AppRepo;

  /** Fast GETs every 20 ms and, alongside, slow ones (1.5 s in the dyno) back to back: every answer kept. */
  function load() {
    const answers: { path: string; status: number; body: string }[] = [];
    let stop = false;
    const loop = async (path: string, pause: number) => {
      while (!stop) {
        const r = await s.get(APP, path).catch((err: Error) => ({ status: 0, body: err.message }));
        answers.push({ path, ...r });
        await new Promise((res) => setTimeout(res, pause));
      }
    };
    const done = Promise.all([loop('/', 20), loop('/slow', 0), loop('/slow', 0)]);
    return { answers, stop: async () => ((stop = true), await done, answers) };
  }

  before(async () => {
    s = await Stack.start(etcd);
    await s.ok('apps:create', APP);
    const files: Record<string, string> = {};
    for (const f of readdirSync(FIXTURE)) files[f] = readFileSync(join(FIXTURE, f), 'utf8');
    repo = await s.repo(files);
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    await s.settled(APP);
  });
  after(async () => {
    await s?.stop();
  });

  test('new dynos that fail the check never take traffic; the old ones serve every request', async () => {
    const l = load();
    await repo.commit({ VERSION: '2\n', BROKEN: 'yes\n' }, 'v2 with a failing /health');
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    const v = (await s.cluster.get(s.cluster.keys.current(APP)))!.value.version;
    let last = '';
    const ps = await eventually(async () => {
      last = (await s.ok('ps', '-a', APP)).stdout;
      return /web\.\d+: starting \(health check failing: GET \/health -> 500 \(expected 200\)\) .* v\d+ /.test(last) ? last : undefined;
    }, 30_000, 'ps shows the failing check').catch((err: Error) => {
      throw new Error(`${err.message}; ps:\n${last}\n${s.dump()}`);
    });
    assert.match(ps, new RegExp(`web\\.\\d+: up .* v${v - 1} `), `the old dyno is still up:\n${ps}`);
    // Past all attempts (6, 1 s apart): the new dyno crashed with the reason, the old one still serves.
    const crashed = await eventually(async () => {
      const r = await s.ok('ps', '-a', APP);
      return /health check failed: GET \/health -> 500 \(expected 200\); crashed/.test(r.stdout) ? r.stdout : undefined;
    }, 30_000, 'ps shows the crash and why');
    assert.match(crashed, new RegExp(`web\\.\\d+: up .* v${v - 1} `));
    const answers = await l.stop();
    const bad = answers.filter((a) => a.status !== 200 || a.body !== '1');
    assert.deepEqual(bad, [], 'every request answered by the old release');
    assert.ok(answers.filter((a) => a.path === '/slow').length >= 4, 'slow requests were in flight throughout');
    const eps = (await listEndpointsOf(s.cluster, APP)).entries.map((e) => (e.value as { release: number }).release);
    assert.deepEqual(eps, [v - 1], 'only the old dyno is routable');
  });

  test('a fixed push passes the check and cuts over with no failed request', async () => {
    const l = load();
    await repo.commit({ VERSION: '3\n' }, 'v3 healthy');
    await repo.run(['rm', '-q', 'BROKEN']);
    await repo.commit({}, 'v3 without BROKEN');
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    await s.settled(APP);
    await eventually(async () => (await s.get(APP)).body === '3', 20_000, 'v3 serves');
    const answers = await l.stop();
    assert.deepEqual(answers.filter((a) => a.status !== 200), [], 'no failed request during the cut-over');
    const logs = await s.ok('logs', '-a', APP, '-n', '200');
    assert.match(logs.stdout, /heroku\[web\.\d+\]: Health check passed: GET \/health -> 200/);
    assert.match(logs.stdout, /heroku\[web\.\d+\]: Health check failed: GET \/health -> 500 \(expected 200\) \(attempt 1 of 6\)/);
  });
});
