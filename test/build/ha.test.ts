/**
 * Two `dynomesh control` processes on one etcd: a slug built on one is copied to
 * the other before its release exists, so the release survives the builder's
 * death; one build per app holds across instances; the other instance's git
 * endpoint takes the next push.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { api, appRepo, git, remote, spawnControl, type ControlProc } from './support.ts';
import { downloadSlug } from './slug.ts';

const etcd = useEtcd();
let cluster: Cluster;
let c1: ControlProc;
let c2: ControlProc;
let tmp: string;

describe('builds across two control instances', () => {
  before(async () => {
    cluster = etcd.cluster();
    tmp = mkdtempSync(join(tmpdir(), 'dm-ha-'));
    chmodSync(tmp, 0o711);
    const key = join(tmp, 'cluster.key');
    // the test's slow buildpack lives under tmp: the operator's --buildpack-dir here
    c1 = await spawnControl(etcd, cluster.keys.prefix, ['--buildpack-dir', tmp], { id: 'c1', clusterKey: key });
    c2 = await spawnControl(etcd, cluster.keys.prefix, ['--buildpack-dir', tmp], { id: 'c2', clusterKey: key });
    await eventually(async () => (await cluster.list(cluster.keys.members())).entries.length === 2, 10_000, 'two members');
  });
  after(async () => {
    await c1?.stop();
    await c2?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('one build per app across instances: a push to the other instance while one builds is refused', async () => {
    const bp = join(tmp, 'slow-bp');
    mkdirSync(join(bp, 'bin'), { recursive: true });
    writeFileSync(join(bp, 'bin/detect'), '#!/bin/sh\necho Slow\n', { mode: 0o755 });
    writeFileSync(join(bp, 'bin/compile'), '#!/bin/sh\necho "-----> slow compile"\nsleep 3\n', { mode: 0o755 });
    assert.equal((await api(c1.url, 'POST', '/apps', { name: 'shared' })).status, 201);
    assert.equal((await api(c1.url, 'PUT', '/apps/shared/buildpack-installations', { updates: [bp] })).status, 200, 'buildpack accepted');
    const a = await appRepo('procfile');
    const b = await appRepo('procfile', 'other');
    try {
      const first = git(a.dir, ['push', remote(c1.url, 'shared'), 'main']);
      await eventually(async () => (await api(c2.url, 'GET', '/apps/shared/builds')).body[0]?.status === 'pending', 10_000, 'build running on c1');
      const second = await git(b.dir, ['push', remote(c2.url, 'shared'), 'main']);
      assert.notEqual(second.code, 0);
      assert.match(second.stderr, /remote:  !     Another build of shared is in progress/);
      const r = await first;
      assert.equal(r.code, 0, r.stderr);
      // c2 serves the output of c1's build by asking c1.
      const builds = (await api(c2.url, 'GET', '/apps/shared/builds')).body;
      assert.equal(builds.length, 1);
      const out = await fetch(`${c2.url}/apps/shared/builds/${builds[0].id}/output`, { headers: { authorization: 'Bearer dm_test-build-admin-token-0123456789' } });
      assert.equal(out.status, 200);
      assert.match(await out.text(), /slow compile[\s\S]*Released v2/);
    } finally {
      a.cleanup();
      b.cleanup();
    }
  });

  test('the slug is copied to the other instance before the release, so the release outlives its builder', async () => {
    assert.equal((await api(c1.url, 'POST', '/apps', { name: 'durable' })).status, 201);
    const repo = await appRepo('static');
    try {
      const push = await git(repo.dir, ['push', remote(c1.url, 'durable'), 'main']);
      assert.equal(push.code, 0, push.stderr);
      assert.match(push.stderr, /remote:        Slug copied to 1 of 1 other control instance\s/);
      const rel = (await cluster.get(cluster.keys.release('durable', 2)))!.value;
      assert.ok(existsSync(join(c2.dir, 'data/slugs', `${rel.slug!.sha256}.tgz`)), 'c2 holds the slug');

      c1.child.kill('SIGKILL');
      const slug = await downloadSlug(c2.url, join(tmp, 'cluster.key'), rel.slug!.sha256);
      assert.equal(slug.status, 200);
      assert.equal(slug.sha256, rel.slug!.sha256);

      // The next push goes to c2 (its repo starts empty; git sends the whole history).
      await git(repo.dir, ['commit', '--allow-empty', '-q', '-m', 'after c1 died']);
      const next = await git(repo.dir, ['push', remote(c2.url, 'durable'), 'main']);
      assert.equal(next.code, 0, next.stderr);
      assert.match(next.stderr, /remote:        Released v3/);
    } finally {
      repo.cleanup();
    }
  });
});
