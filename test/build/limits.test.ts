/**
 * Build limits on a control process started with small ones: the compile time
 * limit kills the buildpack's whole process group and rejects the push; a slug
 * over the size limit fails the build; neither leaves a slug or a release.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { api, appRepo, git, remote, spawnControl, type ControlProc } from './support.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: ControlProc;
let tmp: string;

const slugFiles = () => (existsSync(join(ctl.dir, 'data/slugs')) ? readdirSync(join(ctl.dir, 'data/slugs')).filter((f) => f.endsWith('.tgz')) : []);

describe('build limits', () => {
  before(async () => {
    cluster = etcd.cluster();
    // A build left pending by an earlier run of this instance (killed mid-build) must not block the app.
    await cluster.put(cluster.keys.app('orphan'), { name: 'orphan', createdAt: Date.now(), owner: 'admin', stack: 'dynomesh-1', buildpacks: [] });
    await cluster.put(cluster.keys.build('orphan', 'b-left-pending'), {
      id: 'b-left-pending', app: 'orphan', status: 'pending', commit: 'f'.repeat(40), buildpack: '', slug: null, release: null,
      createdAt: Date.now(), finishedAt: null, user: 'admin', control: 'c1',
    });
    // 12 s: room for the other builds here, whose steps each start a container when run as root.
    tmp = mkdtempSync(join(tmpdir(), 'dm-limits-'));
    // the test's buildpacks live under tmp: the operator's --buildpack-dir here
    ctl = await spawnControl(etcd, cluster.keys.prefix, ['--build-timeout', '12s', '--max-slug-size', '0.01', '--buildpack-dir', tmp]);
    chmodSync(tmp, 0o711); // the build users must reach the buildpacks here
  });
  after(async () => {
    await ctl?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('builds an earlier run of this instance left pending are failed at start', async () => {
    const b = await eventually(async () => {
      const v = (await cluster.get(cluster.keys.build('orphan', 'b-left-pending')))?.value;
      return v?.status === 'failed' ? v : undefined;
    }, 10_000, 'orphaned build failed');
    assert.equal(b.error, 'the control instance running this build restarted');
    assert.ok(b.finishedAt);
  });

  test('a compile over the time limit is killed (with what it started) and the push rejected', async () => {
    const bp = join(tmp, 'slow-bp');
    mkdirSync(join(bp, 'bin'), { recursive: true });
    writeFileSync(join(bp, 'bin/detect'), '#!/bin/sh\necho Slow\n');
    // A background job in the compile's process group would touch the marker after the limit if it survived.
    writeFileSync(join(bp, 'bin/compile'), '#!/bin/sh\necho "-----> compiling slowly"\n(sleep 14; touch "$2/survived") &\nsleep 60\n');
    for (const f of ['detect', 'compile']) chmodSync(join(bp, 'bin', f), 0o755);
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'slow' })).status, 201);
    assert.equal((await api(ctl.url, 'PUT', '/apps/slow/buildpack-installations', { updates: [bp] })).status, 200, 'buildpack accepted');
    const repo = await appRepo('procfile');
    try {
      const started = Date.now();
      const push = await git(repo.dir, ['push', remote(ctl.url, 'slow'), 'main']);
      const took = Date.now() - started;
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /remote: -----> compiling slowly/);
      assert.match(push.stderr, /remote:  !     Build timed out: compiling took longer than the 12 s limit\./);
      assert.match(push.stderr, /pre-receive hook declined/);
      assert.ok(took < 40_000, `rejected after ${took} ms`);
      const rels = (await api(ctl.url, 'GET', '/apps/slow/releases')).body;
      assert.equal(rels.length, 1);
      const builds = (await api(ctl.url, 'GET', '/apps/slow/builds')).body;
      assert.equal(builds[0].status, 'failed');
      assert.match(builds[0].failure_message, /timed out/);
      await new Promise((r) => setTimeout(r, 15_000 - (Date.now() - started) + 500));
      assert.ok(!existsSync(join(ctl.dir, 'builds/cache/slow/survived')), 'the compile\'s background job was killed');
    } finally {
      repo.cleanup();
    }
  });

  test('a slug over the size limit fails the build with a clear message and stores nothing', async () => {
    const src = join(tmp, 'big');
    mkdirSync(src);
    writeFileSync(join(src, 'Procfile'), 'web: sh -c "sleep 3600"\n');
    writeFileSync(join(src, 'blob.bin'), randomBytes(64 * 1024)); // does not compress
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'big' })).status, 201);
    const before = slugFiles();
    const repo = await appRepo(src);
    try {
      const push = await git(repo.dir, ['push', remote(ctl.url, 'big'), 'main']);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /remote:  !     Compiled slug size \d+K is too large \(max is 10K\); add large files to \.slugignore or trim dependencies\./);
      assert.equal((await api(ctl.url, 'GET', '/apps/big/releases')).body.length, 1);
      assert.deepEqual(slugFiles(), before);
      // With the big file in .slugignore the same app fits.
      writeFileSync(join(repo.dir, '.slugignore'), '*.bin\n');
      await git(repo.dir, ['add', '.slugignore']);
      await git(repo.dir, ['commit', '-q', '-m', 'ignore blobs']);
      const ok = await git(repo.dir, ['push', remote(ctl.url, 'big'), 'main']);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal((await api(ctl.url, 'GET', '/apps/big/releases')).body.length, 2);
    } finally {
      repo.cleanup();
    }
  });

  test('a slug with a link leaving the app dir fails the build (dyno-nodes would refuse it); relative links inside are kept', async () => {
    const src = join(tmp, 'links');
    mkdirSync(join(src, 'bin'), { recursive: true });
    writeFileSync(join(src, 'Procfile'), 'web: sh -c "sleep 3600"\n');
    writeFileSync(join(src, 'bin/real'), 'x');
    symlinkSync('real', join(src, 'bin/inside'));
    symlinkSync('/etc/passwd', join(src, 'passwd'));
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'links' })).status, 201);
    const repo = await appRepo(src);
    try {
      const push = await git(repo.dir, ['push', remote(ctl.url, 'links'), 'main']);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /remote:  !     could not check out [0-9a-f]{7}: it has links that leave the app dir, which dynos refuse: passwd -> \/etc\/passwd; make them relative links inside the app/);
      await git(repo.dir, ['rm', '-q', 'passwd']);
      await git(repo.dir, ['commit', '-q', '-m', 'no escaping link']);
      const ok = await git(repo.dir, ['push', remote(ctl.url, 'links'), 'main']);
      assert.equal(ok.code, 0, ok.stderr);
    } finally {
      repo.cleanup();
    }
  });

  test('a buildpack that points the Procfile outside the app cannot make the control read that file into the release', async () => {
    const bp = join(tmp, 'sneaky-bp');
    mkdirSync(join(bp, 'bin'), { recursive: true });
    writeFileSync(join(bp, 'bin/detect'), '#!/bin/sh\necho Sneaky\n', { mode: 0o755 });
    writeFileSync(join(bp, 'bin/compile'), '#!/bin/sh\nln -sf /etc/passwd "$1/Procfile"\n', { mode: 0o755 });
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'sneaky' })).status, 201);
    assert.equal((await api(ctl.url, 'PUT', '/apps/sneaky/buildpack-installations', { updates: [bp] })).status, 200, 'buildpack accepted');
    const repo = await appRepo('procfile');
    try {
      const push = await git(repo.dir, ['push', remote(ctl.url, 'sneaky'), 'main']);
      assert.notEqual(push.code, 0);
      assert.match(push.stderr, /remote:  !     Procfile is a link to outside the app; make it a regular file/);
      assert.equal((await api(ctl.url, 'GET', '/apps/sneaky/releases')).body.length, 1);
    } finally {
      repo.cleanup();
    }
  });
});
