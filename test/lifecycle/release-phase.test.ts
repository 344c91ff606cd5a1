/**
 * The release phase end to end, through real git pushes: a `release:` process type
 * runs in a one-off dyno before the release goes live; a failure leaves the previous
 * release serving and fails the push with the command's output; rollbacks and
 * config changes run it too; a hung one is stopped at --release-phase-timeout.
 * The app (apps/migrate) writes a marker when its "migration" finishes, and its web
 * dyno reports whether the marker existed when it booted.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, useEtcd } from '../support/etcd.ts';
import { Stack, type AppRepo } from './stack.ts';

const etcd = useEtcd();
const APP = 'migrator';
const FIXTURE = join(import.meta.dirname, 'apps/migrate');

interface Answer {
  version: string;
  markerAtBoot: boolean;
}

describe('release phase through git push', () => {
  let s: Stack;
  let repo: AppRepo;
  let markers: string;
  const runs = () => readFileSync(join(markers, 'runs'), 'utf8').trim().split('\n');
  const releases = async () =>
    (JSON.parse((await s.ok('releases', '-a', APP, '--json')).stdout) as { version: number; status: string; current: boolean; description: string }[]).sort((a, b) => a.version - b.version);
  const current = async () => (await s.cluster.get(s.cluster.keys.current(APP)))!.value;

  /**
   * GETs the app through the router every 20 ms until stopped; every answer kept. The last
   * request is one sent after stop() was called, so it sees what the test saw before stopping.
   */
  function load() {
    const answers: { status: number; body: string }[] = [];
    let stopping = false;
    const done = (async () => {
      for (let last = false; !last; ) {
        last = stopping;
        answers.push(await s.get(APP).catch((err: Error) => ({ status: 0, body: err.message })));
        if (!last) await new Promise((r) => setTimeout(r, 20));
      }
    })();
    return { answers, stop: async () => ((stopping = true), await done, answers) };
  }

  before(async () => {
    s = await Stack.start(etcd, { controlArgs: ['--release-phase-timeout', '15s'] });
    markers = join(s.dir, 'markers');
    mkdirSync(markers);
    chmodSync(markers, 0o777); // dynos run as the app's own user
    await s.ok('apps:create', APP);
    await s.ok('config:set', `MARKER_DIR=${markers}`, '-a', APP); // v2 (v1 is the app's first): no code yet, so no release command
    const files: Record<string, string> = {};
    for (const f of readdirSync(FIXTURE)) files[f] = readFileSync(join(FIXTURE, f), 'utf8');
    repo = await s.repo(files);
  });
  after(async () => {
    await s?.stop();
  });

  test('the first push runs the release command, shows its output, then starts web', async () => {
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    for (const line of ['remote:        Running release command...', 'remote: migrating v1', 'remote: migrated', 'remote:        Waiting for release.... done.', 'remote:        Released v3']) {
      assert.ok(push.stderr.includes(line), `missing "${line}" in:\n${push.stderr}`);
    }
    await s.settled(APP);
    const a = JSON.parse((await s.get(APP)).body) as Answer;
    assert.deepEqual([a.version, a.markerAtBoot], ['1', true]);
    assert.deepEqual(runs(), ['1']);
    const rel = (await releases()).at(-1)!;
    assert.deepEqual([rel.version, rel.status, rel.current], [3, 'succeeded', true]);
    const ps = await s.ok('ps', '-a', APP);
    assert.doesNotMatch(ps.stdout, /^release/m, 'release is not a formation process type');
  });

  test('a new release takes traffic only after its release command has finished', async () => {
    const l = load();
    await repo.commit({ VERSION: '2\n' }, 'v2');
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /remote: migrating v2/);
    await s.settled(APP);
    await eventually(async () => (JSON.parse((await s.get(APP)).body) as Answer).version === '2', 20_000, 'v2 serves');
    const answers = await l.stop();
    const served = answers.map((x) => x.status === 200 ? (JSON.parse(x.body) as Answer) : x);
    assert.deepEqual(answers.filter((x) => x.status !== 200), [], 'no failed request during the roll');
    const early = served.filter((x) => 'version' in x && x.version === '2' && !x.markerAtBoot);
    assert.deepEqual(early, [], 'no v2 dyno served before its release command finished');
    assert.ok(served.some((x) => 'version' in x && x.version === '2'), 'v2 served in the end');
    assert.deepEqual(runs(), ['1', '2']);
  });

  test('a failing release command fails the push with its output; the previous release keeps serving', async () => {
    const before = await current();
    const l = load();
    await repo.commit({ VERSION: '3\n', FAIL: 'yes\n' }, 'v3 with a broken migration');
    const push = await s.push(repo, APP);
    const answers = await l.stop();
    assert.notEqual(push.code, 0, 'the push fails');
    assert.match(push.stderr, /remote: migration failed: boom/);
    assert.match(push.stderr, /Release command failed \(Process exited with status 3\)/);
    assert.match(push.stderr, /v5 was not released and v4 keeps serving/);
    assert.match(push.stderr, /! \[remote rejected\] main -> main/);
    assert.deepEqual(answers.filter((x) => x.status !== 200 || (JSON.parse(x.body) as Answer).version !== '2'), [], 'v2 served throughout');
    assert.equal((await current()).version, before.version, 'current did not move');
    const rels = await releases();
    assert.deepEqual(rels.map((r) => [r.version, r.status]).slice(-2), [[4, 'succeeded'], [5, 'failed']]);
    const list = await s.ok('releases', '-a', APP);
    assert.match(list.stdout, /v5\s+Deploy [0-9a-f]{7} \(release command failed\)/);
    const out = await s.cli('releases:output', 'v5', '-a', APP);
    assert.equal(out.code, 1, 'releases:output of a failed release exits 1');
    assert.match(out.stdout, /migrating v3\n[^]*migration failed: boom\nRelease command failed \(Process exited with status 3\)\n$/);
    assert.equal(JSON.parse((await s.get(APP)).body).version, '2');
    // Nothing runs it any more: the release.N dyno is gone.
    await eventually(async () => !(await s.cluster.list(s.cluster.keys.placements())).entries.some((e) => (e.value as { type: string }).type === 'release'), 20_000, 'release dyno removed');
  });

  test('a rollback runs the release phase of the release it copies', async () => {
    const r = await s.cli('rollback', 'v3', '-a', APP);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Running release command/);
    assert.match(r.stderr, /migrating v1/);
    const last = (await releases()).at(-1)!;
    assert.deepEqual([last.version, last.status, last.current, last.description], [6, 'succeeded', true, 'Rollback to v3']);
    assert.deepEqual(runs(), ['1', '2', '1']);
    await s.settled(APP);
    assert.equal(JSON.parse((await s.get(APP)).body).version, '1');
  });

  test('a config change runs it; a hung one is stopped at --release-phase-timeout and nothing else releases meanwhile', async () => {
    const started = Date.now();
    const setting = s.cli('config:set', 'SLOW=1', '-a', APP);
    const v7 = await eventually(async () => (await current()).pending, 30_000, 'v7 pending').catch(async (err: Error) => {
      const r = await setting;
      throw new Error(`${err.message}; config:set exited ${r.code}: ${r.stderr}`);
    });
    assert.equal(v7, 7);
    const other = await s.cli('config:set', 'OTHER=1', '-a', APP);
    assert.equal(other.code, 1);
    assert.match(other.stderr, /release v7 of migrator is still running its release command/);
    const r = await setting;
    const took = Date.now() - started;
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /still migrating/);
    assert.match(r.stderr, /Release command timed out: it ran longer than the 15 s limit/);
    assert.ok(took >= 15_000 && took < 45_000, `stopped after ${took} ms`);
    assert.equal((await releases()).at(-1)!.status, 'failed');
    assert.equal((await current()).version, 6);
    assert.equal(JSON.parse((await s.get(APP)).body).version, '1', 'v6 keeps serving');

    const unset = await s.cli('config:unset', 'SLOW', '-a', APP);
    assert.equal(unset.code, 0, unset.stderr);
    assert.match(unset.stderr, /migrating v1/);
    assert.deepEqual([(await current()).version, runs().length], [8, 4]);
  });
});
