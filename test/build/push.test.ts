/**
 * End to end: a real etcd, a real `dynomesh control` process on loopback, and the
 * real git client pushing each built-in test app over smart HTTP (token as the
 * basic-auth password in the remote URL). Each push must stream the build output
 * as `remote:` lines, create release v(N+1), and store a slug whose sha256
 * verifies and that runs; failing builds reject the push and change nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { api, appRepo, git, remote, spawnControl, type ControlProc } from './support.ts';
import { downloadSlug, runSlug, slugEntries } from './slug.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: ControlProc;
const cleanups: (() => void)[] = [];

async function releases(app: string): Promise<{ version: number; description: string }[]> {
  const r = await api(ctl.url, 'GET', `/apps/${app}/releases`);
  assert.equal(r.status, 200);
  return r.body;
}

/** Creates the app, pushes `test/build/apps/<name>` to main, and returns what a user sees. */
async function pushApp(app: string, name: string, setup?: () => Promise<void>) {
  assert.equal((await api(ctl.url, 'POST', '/apps', { name: app })).status, 201);
  await setup?.();
  const repo = await appRepo(name);
  cleanups.push(repo.cleanup);
  const before = await releases(app);
  const push = await git(repo.dir, ['push', remote(ctl.url, app), 'main']);
  return { push, repo, before };
}

/** After a good push: the new release, and its slug downloaded with the node token and hashed. */
async function deployed(app: string, sha: string, beforeCount: number) {
  const rels = await releases(app);
  assert.equal(rels.length, beforeCount + 1, 'one new release');
  const last = rels[rels.length - 1]!;
  assert.equal(last.description, `Deploy ${sha.slice(0, 7)}`);
  const rec = (await cluster.get(cluster.keys.release(app, last.version)))!.value;
  assert.ok(rec.slug, 'release has a slug');
  const slug = await downloadSlug(ctl.url, join(ctl.dir, 'cluster.key'), rec.slug.sha256);
  assert.equal(slug.status, 200);
  assert.equal(slug.sha256, rec.slug.sha256, 'slug bytes hash to their name');
  assert.equal(slug.body.length, rec.slug.size);
  const entries = await slugEntries(slug.body);
  assert.ok(entries.every((p) => !p.startsWith('./') && !p.startsWith('/') && !p.startsWith('app/')), 'files at the slug root');
  return { release: rec, slug, entries };
}

describe('git push of the built-in test apps', () => {
  before(async () => {
    cluster = etcd.cluster();
    ctl = await spawnControl(etcd, cluster.keys.prefix);
  });
  after(async () => {
    for (const c of cleanups) c();
    await ctl?.stop();
  });

  test('nodejs: npm ci with the cache, build script, .slugignore, web: npm start, and the slug runs', async () => {
    const { push, repo, before } = await pushApp('node-app', 'nodejs', async () => {
      assert.equal((await api(ctl.url, 'PATCH', '/apps/node-app/config-vars', { GREETING: 'hi' })).status, 200);
    });
    assert.equal(push.code, 0, push.stderr);
    for (const line of [
      'remote: -----> Building on the dynomesh-1 stack',
      'remote: -----> Node.js app detected',
      'remote:        Installing node modules (package.json + package-lock)',
      'remote:        build script wrote built.txt',
      'remote: -----> Pruning devDependencies',
      'remote:        Default types for buildpack -> web',
      'remote: -----> Compressing...',
      'remote:        Released v3',
    ]) assert.ok(push.stderr.includes(line), `missing "${line}" in:\n${push.stderr}`);
    assert.match(push.stderr, /\.slugignore removed 2 paths: (art\.psd, docs|docs, art\.psd)/);
    const { release, slug, entries } = await deployed('node-app', repo.sha, before.length);
    assert.deepEqual(release.processTypes, { web: 'npm start' });
    for (const f of ['package.json', 'server.js', 'built.txt', '.profile.d/nodejs.sh']) assert.ok(entries.includes(f), `${f} in slug`);
    assert.ok(!entries.some((p) => p.startsWith('docs') || p === 'art.psd'), '.slugignore matches left out');
    assert.ok(!entries.includes('.git') && !entries.some((p) => p.startsWith('.git/')), 'no .git in the slug');
    const [home] = await runSlug(slug.body, release.processTypes.web!, ['/']);
    assert.equal(home!.status, 200);
    assert.match(home!.body, /^hello from node v\d+/);
    // The formation got web=1 on the first deploy, as Heroku scales web.
    assert.deepEqual((await cluster.get(cluster.keys.formation('node-app')))?.value.types.web, { quantity: 1, size: 'standard-1x' });
    // The npm cache persists per app for the next build.
    const second = await git(repo.dir, ['commit', '--allow-empty', '-q', '-m', 'again']).then(() => git(repo.dir, ['push', remote(ctl.url, 'node-app'), 'main']));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /remote:\s+npm cache: \S+/);
    assert.equal((await releases('node-app')).length, before.length + 2);
  });

  test('python: pyproject with no dependencies builds offline; the slug runs python from .profile.d', async () => {
    const { push, repo, before } = await pushApp('py-app', 'python');
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /remote: -----> Python app detected/);
    assert.match(push.stderr, /remote: -----> No dependencies in pyproject\.toml: nothing to install/);
    assert.match(push.stderr, /remote:        Procfile declares types     -> web/);
    const { release, slug, entries } = await deployed('py-app', repo.sha, before.length);
    assert.deepEqual(release.processTypes, { web: 'python app.py' });
    assert.ok(entries.includes('.heroku/python/bin/python') && entries.includes('.profile.d/python.sh'));
    const [home] = await runSlug(slug.body, release.processTypes.web!, ['/']);
    assert.deepEqual(home, { status: 200, body: 'hello from python\n' });
  });

  test('python: dependencies with the package index unreachable fail the build with pip\'s error, clearly', async () => {
    const { push, before } = await pushApp('py-deps', 'python-deps', async () => {
      // A closed loopback port as the index: unreachable the same way on any machine.
      assert.equal((await api(ctl.url, 'PATCH', '/apps/py-deps/config-vars', { PIP_INDEX_URL: 'http://127.0.0.1:9/simple' })).status, 200);
    });
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /remote: -----> Installing dependencies from requirements\.txt with pip/);
    assert.match(push.stderr, /remote:\s+.*(Connection refused|NewConnectionError|No matching distribution)/, 'pip\'s own output is shown');
    assert.match(push.stderr, /remote:  !     pip could not download the dependencies in requirements\.txt: the package index http:\/\/127\.0\.0\.1:9\/simple is not reachable/);
    assert.match(push.stderr, /\[remote rejected\] main -> main \(pre-receive hook declined\)/);
    assert.deepEqual(await releases('py-deps'), before);
  });

  test('static: a directory of files served by the built-in web process (root, clean URLs, error page)', async () => {
    const { push, repo, before } = await pushApp('static-app', 'static');
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /remote: -----> Static HTML app detected/);
    const { release, slug, entries } = await deployed('static-app', repo.sha, before.length);
    assert.deepEqual(release.processTypes, { web: 'node .dynomesh/static-server.cjs' });
    assert.ok(entries.includes('public/index.html') && entries.includes('.dynomesh/static-server.cjs'));
    const [home, about, missing, traversal] = await runSlug(slug.body, release.processTypes.web!, ['/', '/about', '/nope', '/..%2fstatic.json']);
    assert.deepEqual(home, { status: 200, body: '<h1>hello static</h1>\n' });
    assert.deepEqual(about, { status: 200, body: '<h1>about</h1>\n' });
    assert.deepEqual(missing, { status: 404, body: '<h1>not here</h1>\n' });
    assert.equal(traversal!.status, 404);
  });

  test('procfile: any app with a Procfile, no build step; new types join the formation at 0 except web', async () => {
    const { push, repo, before } = await pushApp('proc-app', 'procfile');
    assert.equal(push.code, 0, push.stderr);
    assert.match(push.stderr, /remote: -----> Procfile app detected/);
    assert.match(push.stderr, /remote:        Procfile declares types     -> web, worker/);
    const { release, slug } = await deployed('proc-app', repo.sha, before.length);
    assert.deepEqual(release.processTypes, { web: 'node server.js', worker: 'sh worker.sh' });
    const types = (await cluster.get(cluster.keys.formation('proc-app')))!.value.types;
    assert.equal(types.web?.quantity, 1);
    assert.equal(types.worker?.quantity, 0);
    const [home] = await runSlug(slug.body, release.processTypes.web!, ['/']);
    assert.deepEqual(home, { status: 200, body: 'procfile app\n' });
  });

  test('a failing build (npm ci with package.json out of sync with the lockfile) rejects the push and changes nothing', async () => {
    const { push, repo, before } = await pushApp('broken-app', 'nodejs-broken');
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /remote: .*npm ci/);
    assert.match(push.stderr, /remote:  !     Push rejected, failed to compile Node\.js app\./);
    assert.match(push.stderr, /remote:  !     Push failed/);
    assert.match(push.stderr, /\[remote rejected\] main -> main \(pre-receive hook declined\)/);
    assert.deepEqual(await releases('broken-app'), before, 'release list unchanged');
    const refs = await git(repo.dir, ['ls-remote', remote(ctl.url, 'broken-app')]);
    assert.equal(refs.code, 0, refs.stderr);
    assert.equal(refs.stdout.trim(), '', 'the ref was not updated');
    // The failed build is recorded, with its output kept.
    const builds = (await api(ctl.url, 'GET', '/apps/broken-app/builds')).body;
    assert.equal(builds.length, 1);
    assert.equal(builds[0].status, 'failed');
    assert.equal(builds[0].slug, null);
    assert.equal(builds[0].release, null);
    assert.equal(builds[0].failure_message, 'Push rejected, failed to compile Node.js app.');
    const out = await fetch(builds[0].output_stream_url, { headers: { authorization: 'Bearer dm_test-build-admin-token-0123456789' } });
    assert.equal(out.status, 200);
    assert.match(await out.text(), /Push rejected, failed to compile Node\.js app/);
  });
});
