/**
 * The git side of deploys against a real control process: third-party
 * buildpacks (a local dir and a git URL) with ENV_DIR and live output, auth
 * (anonymous and wrong token write nothing), branch rules, force pushes,
 * one build at a time per app, clone, and the builds/buildpacks API.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { dumpKeys } from './dump.ts';
import { ADMIN, api, appRepo, git, remote, spawnControl, type ControlProc } from './support.ts';
import { freePort } from '../../lib/ports.ts';
import { addonHost } from '../support/host.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: ControlProc;
let bpPort: number;
let tmp: string;
const cleanups: (() => void)[] = [];

/** A third-party-style buildpack: detect needs hello.txt; compile prints, waits `sleepS`, prints, uses ENV_DIR. */
function makeBuildpack(dir: string, sleepS: number, probe?: string[]): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const files: Record<string, string> = {
    detect: '#!/bin/sh\n[ -f "$1/hello.txt" ] && echo "Hello" && exit 0\nexit 1\n',
    compile: [
      '#!/bin/sh', 'set -e',
      'echo "-----> custom step one"',
      `sleep ${sleepS}`,
      'echo "       custom step two: greeting=$(cat "$3/GREETING" 2>/dev/null || echo none) stack=$STACK"',
      'echo "compiled" > "$1/compiled-by-custom"',
      'echo "cache run" >> "$2/runs"; echo "       cache runs: $(wc -l < "$2/runs")"',
      `echo "       build user: $(id -un)"`,
      ...(probe ? [`for f in ${probe.join(' ')}; do if cat "$f" >/dev/null 2>&1; then echo "       readable: $f"; else echo "       unreadable: $f"; fi; done`] : []),
      '',
    ].join('\n'),
    release: '#!/bin/sh\ncat <<YAML\n---\naddons: []\ndefault_process_types:\n  web: cat compiled-by-custom\n  clock: "sleep 3600"\nYAML\n',
  };
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(dir, 'bin', name), text);
    chmodSync(join(dir, 'bin', name), 0o755);
  }
  return dir;
}

async function helloRepo() {
  const src = join(tmp, `hello-src-${Math.random().toString(36).slice(2)}`);
  mkdirSync(src);
  writeFileSync(join(src, 'hello.txt'), 'hi\n');
  writeFileSync(join(src, 'Procfile'), 'web: cat hello.txt\n');
  const repo = await appRepo(src);
  cleanups.push(repo.cleanup);
  return repo;
}

describe('git transport, custom buildpacks and the builds API', () => {
  before(async () => {
    cluster = etcd.cluster();
    // The git host of the buildpack test: as root, builds run in containers that reach private
    // addresses only through the operator's allowlist, which names exactly this server.
    bpPort = await freePort();
    // The test's buildpack dirs are made under the temp dir: the operator's --buildpack-dir here.
    ctl = await spawnControl(etcd, cluster.keys.prefix, ['--build-allow', `${addonHost()}:${bpPort}`, '--buildpack-dir', tmpdir()]);
    tmp = mkdtempSync(join(tmpdir(), 'dm-git-test-'));
    chmodSync(tmp, 0o711); // buildpacks here must be reachable by the per-app build users (as root)
  });
  after(async () => {
    for (const c of cleanups) c();
    await ctl?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a third-party buildpack in a temp dir is used when set on the app; its output streams while it runs', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'custom' })).status, 201);
    await api(ctl.url, 'PATCH', '/apps/custom/config-vars', { GREETING: 'bonjour' });
    const secrets = [join(ctl.dir, 'cluster.key'), join(ctl.dir, 'data/repos/custom.git/config')];
    const bp = makeBuildpack(join(tmp, 'bp-local'), 2, secrets);
    const set = await api(ctl.url, 'PUT', '/apps/custom/buildpack-installations', { updates: [{ buildpack: bp }] });
    assert.equal(set.status, 200, JSON.stringify(set.body));
    assert.deepEqual(set.body, [{ ordinal: 0, buildpack: { url: bp, name: bp } }]);
    assert.deepEqual((await api(ctl.url, 'GET', '/apps/custom')).body.buildpacks, [bp]);

    const repo = await helloRepo();
    const push = await git(repo.dir, ['push', remote(ctl.url, 'custom'), 'main']);
    assert.equal(push.code, 0, push.stderr);
    assert.ok(push.stderr.includes(`remote: -----> Using buildpack: ${bp}`));
    assert.ok(push.stderr.includes('remote: -----> Hello app detected'));
    assert.ok(push.stderr.includes('remote:        custom step two: greeting=bonjour stack=dynomesh-1'), push.stderr);
    assert.ok(push.stderr.includes('remote:        Default types for buildpack -> clock'));
    if (process.getuid?.() === 0) {
      // As root, the build runs as the app's unprivileged user and cannot read the control's secrets.
      assert.ok(push.stderr.includes('remote:        build user: dm-custom'), push.stderr);
      for (const f of secrets) assert.ok(push.stderr.includes(`remote:        unreadable: ${f}`), `${f} readable by the build:\n${push.stderr}`);
    }
    // Streaming: step one reached the pusher well before step two (the buildpack sleeps 2 s between them).
    const at = (s: string) => push.chunks.find((c) => c.text.includes(s))?.at ?? -1;
    assert.ok(at('custom step one') >= 0 && at('custom step two') - at('custom step one') >= 1500,
      `output arrived in one piece: step one at ${at('custom step one')} ms, step two at ${at('custom step two')} ms`);
    const rel = (await cluster.get(cluster.keys.release('custom', 3)))!.value;
    assert.deepEqual(rel.processTypes, { web: 'cat hello.txt', clock: 'sleep 3600' }, 'Procfile overrides the defaults');
  });

  test('a buildpack from a git URL (over HTTP); the build cache dir persists between builds', async () => {
    const bpRepo = makeBuildpack(join(tmp, 'bp-git'), 0);
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-q', '-m', 'bp']]) assert.equal((await git(bpRepo, args)).code, 0);
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'gitbp' })).status, 201);
    // Served over git's dumb HTTP protocol from loopback, as a buildpack on a git host would be.
    assert.equal((await git(tmp, ['clone', '-q', '--bare', bpRepo, join(tmp, 'bp.git')])).code, 0);
    assert.equal((await git(join(tmp, 'bp.git'), ['update-server-info'])).code, 0);
    const files = createServer((req, res) => {
      const path = join(tmp, decodeURIComponent((req.url ?? '/').split('?')[0]!));
      if (!path.startsWith(join(tmp, 'bp.git'))) return res.writeHead(404).end();
      try {
        res.writeHead(200).end(readFileSync(path));
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => files.listen(bpPort, addonHost(), r));
    cleanups.push(() => files.close());
    const url = `http://${addonHost()}:${(files.address() as AddressInfo).port}/bp.git#main`;
    assert.equal((await api(ctl.url, 'PUT', '/apps/gitbp/buildpack-installations', { updates: [url] })).status, 200);
    const repo = await helloRepo();
    const first = await git(repo.dir, ['push', remote(ctl.url, 'gitbp'), 'main']);
    assert.equal(first.code, 0, first.stderr);
    assert.ok(first.stderr.includes(`remote: -----> Using buildpack: ${url}`));
    assert.match(first.stderr, /remote:        cache runs: 1/);
    await git(repo.dir, ['commit', '--allow-empty', '-q', '-m', 'two']);
    const second = await git(repo.dir, ['push', remote(ctl.url, 'gitbp'), 'main']);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, /remote:        cache runs: 2/);

    // An app the buildpack does not detect fails clearly, and bad references are refused when set.
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'nodetect' })).status, 201);
    await api(ctl.url, 'PUT', '/apps/nodetect/buildpack-installations', { updates: [url] });
    const other = await appRepo('procfile');
    cleanups.push(other.cleanup);
    const rejected = await git(other.dir, ['push', remote(ctl.url, 'nodetect'), 'main']);
    assert.notEqual(rejected.code, 0);
    assert.ok(rejected.stderr.includes(`remote:  !     App not compatible with buildpack: ${url}`), rejected.stderr);
    if (process.getuid?.() === 0) {
      // As root, a buildpack path is copied as the build user: a directory that user cannot read is refused.
      const hidden = mkdtempSync(join(tmpdir(), 'dm-hidden-bp-')); // 0700, root's
      cleanups.push(() => rmSync(hidden, { recursive: true, force: true }));
      makeBuildpack(join(hidden, 'bp'), 0);
      assert.equal((await api(ctl.url, 'PUT', '/apps/nodetect/buildpack-installations', { updates: [join(hidden, 'bp')] })).status, 200);
      const denied = await git(other.dir, ['push', remote(ctl.url, 'nodetect'), 'main']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /remote:  !     could not copy buildpack .*Permission denied/);
    }
    const bad = await api(ctl.url, 'PUT', '/apps/nodetect/buildpack-installations', { updates: ['not a buildpack'] });
    assert.equal(bad.status, 422);
    assert.match(bad.body.message, /not a buildpack/);
    const missing = await api(ctl.url, 'PUT', '/apps/nodetect/buildpack-installations', { updates: [join(tmpdir(), 'nonexistent-bp')] });
    assert.equal(missing.status, 422);
    assert.match(missing.body.message, /does not exist on the control host/);
    // Outside --buildpack-dir nothing is looked at: /etc and a missing path get the same answer.
    const outside = await Promise.all(['/etc', '/nonexistent/bp'].map((p) => api(ctl.url, 'PUT', '/apps/nodetect/buildpack-installations', { updates: [p] })));
    for (const o of outside) assert.match(o.body.message, /^updates\[0\]: buildpack paths must be under \S+ \(--buildpack-dir\)$/);
  });

  test('several buildpacks run in order; an earlier one\'s export file reaches the next compile', async () => {
    const a = join(tmp, 'bp-a');
    const b = join(tmp, 'bp-b');
    for (const [dir, compile, release] of [
      [a, '#!/bin/sh\necho "-----> A compiles"\necho "export FROM_A=tools-installed" > "$(dirname "$0")/../export"\n', 'default_process_types:\n  web: a-web\n  helper: a-helper\n'],
      [b, '#!/bin/sh\necho "       B sees FROM_A=$FROM_A"\n', 'default_process_types:\n  web: b-web\n'],
    ] as const) {
      mkdirSync(join(dir, 'bin'), { recursive: true });
      writeFileSync(join(dir, 'bin/detect'), `#!/bin/sh\necho ${dir === a ? 'A' : 'B'}\n`, { mode: 0o755 });
      writeFileSync(join(dir, 'bin/compile'), compile, { mode: 0o755 });
      writeFileSync(join(dir, 'bin/release'), `#!/bin/sh\nprintf -- '${release.replace(/\n/g, '\\n')}'\n`, { mode: 0o755 });
    }
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'multi' })).status, 201);
    assert.equal((await api(ctl.url, 'PUT', '/apps/multi/buildpack-installations', { updates: [a, b] })).status, 200);
    const src = join(tmp, 'multi-src');
    mkdirSync(src);
    writeFileSync(join(src, 'README'), 'no Procfile here\n');
    const repo = await appRepo(src);
    cleanups.push(repo.cleanup);
    const push = await git(repo.dir, ['push', remote(ctl.url, 'multi'), 'main']);
    assert.equal(push.code, 0, push.stderr);
    assert.ok(push.stderr.includes(`remote: -----> Using buildpacks: ${a}, ${b}`));
    assert.ok(push.stderr.indexOf('remote: -----> A app detected') < push.stderr.indexOf('remote: -----> B app detected'));
    assert.ok(push.stderr.includes('remote:        B sees FROM_A=tools-installed'), push.stderr);
    const rel = (await cluster.get(cluster.keys.release('multi', 2)))!.value;
    assert.deepEqual(rel.processTypes, { web: 'b-web', helper: 'a-helper' }, 'later buildpacks override earlier defaults');
    assert.ok(!existsSync(join(a, 'export')), 'the buildpack dir itself is left untouched');
  });

  test('anonymous and wrong-token pushes get 401 and write nothing', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'locked' })).status, 201);
    const repo = await appRepo('procfile');
    cleanups.push(repo.cleanup);
    const before = await dumpKeys(cluster);
    const anon = await git(repo.dir, ['push', `${ctl.url}/locked.git`, 'main']);
    assert.notEqual(anon.code, 0);
    assert.match(anon.stderr, /could not read Username|Authentication failed/);
    const wrong = await git(repo.dir, ['push', remote(ctl.url, 'locked', 'dm_wrong-token-0123456789abcdef'), 'main']);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.stderr, /Authentication failed/);
    const res = await fetch(`${ctl.url}/locked.git/info/refs?service=git-receive-pack`);
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
    assert.deepEqual(await dumpKeys(cluster), before, 'etcd unchanged');
    // The token also works as a bearer header (http.extraHeader), and then the push goes through.
    const ok = await git(repo.dir, ['-c', `http.extraHeader=Authorization: Bearer ${ADMIN}`, 'push', `${ctl.url}/locked.git`, 'main']);
    assert.equal(ok.code, 0, ok.stderr);
    const noApp = await git(repo.dir, ['push', remote(ctl.url, 'no-such-app'), 'main']);
    assert.notEqual(noApp.code, 0);
    assert.match(noApp.stderr, /not found/);
  });

  test('an app destroyed and created again under the same name starts from an empty repo', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'reborn' })).status, 201);
    const repo = await appRepo('procfile');
    cleanups.push(repo.cleanup);
    const url = remote(ctl.url, 'reborn');
    assert.equal((await git(repo.dir, ['push', url, 'main'])).code, 0);
    assert.match((await git(repo.dir, ['ls-remote', url])).stdout, /refs\/heads\/main/);
    assert.equal((await api(ctl.url, 'DELETE', '/apps/reborn')).status, 200);
    assert.equal((await api(ctl.url, 'GET', '/apps/reborn/builds')).status, 404);
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'reborn' })).status, 201);
    assert.equal((await git(repo.dir, ['ls-remote', url])).stdout.trim(), '');
    assert.deepEqual((await api(ctl.url, 'GET', '/apps/reborn/builds')).body, []);
  });

  test('only main or master deploy; force pushes are allowed; the repo clones back', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'branches' })).status, 201);
    const repo = await appRepo('procfile');
    cleanups.push(repo.cleanup);
    const url = remote(ctl.url, 'branches');
    const feature = await git(repo.dir, ['push', url, 'main:feature']);
    assert.notEqual(feature.code, 0);
    assert.match(feature.stderr, /remote:  !     Pushing to feature is not allowed: only main or master deploy\./);
    assert.match(feature.stderr, /git push <remote> feature:main/);
    assert.equal((await git(repo.dir, ['ls-remote', url])).stdout.trim(), '');

    const master = await git(repo.dir, ['push', url, 'main:master']);
    assert.equal(master.code, 0, master.stderr);
    await git(repo.dir, ['commit', '--allow-empty', '-q', '-m', 'both']);
    const both = await git(repo.dir, ['push', url, 'main:main', 'main:master']);
    assert.notEqual(both.code, 0);
    assert.match(both.stderr, /Push main or master, not both/);

    // Rewrite history and force push: allowed, and it deploys the new commit.
    await git(repo.dir, ['reset', '-q', '--hard', 'HEAD~1']);
    await git(repo.dir, ['commit', '--amend', '-q', '-m', 'rewritten']);
    const sha = (await git(repo.dir, ['rev-parse', 'HEAD'])).stdout.trim();
    const plain = await git(repo.dir, ['push', url, 'main:master']);
    assert.notEqual(plain.code, 0, 'a non-fast-forward needs --force, as git says');
    const forced = await git(repo.dir, ['push', '--force', url, 'main:master']);
    assert.equal(forced.code, 0, forced.stderr);
    const rels = (await api(ctl.url, 'GET', '/apps/branches/releases')).body;
    assert.equal(rels[rels.length - 1].description, `Deploy ${sha.slice(0, 7)}`);
    const del = await git(repo.dir, ['push', url, ':master']);
    assert.notEqual(del.code, 0);
    assert.match(del.stderr, /Deleting master is not allowed/);

    const clone = join(tmp, 'clone');
    const cloned = await git(tmp, ['clone', '-q', url, clone]);
    assert.equal(cloned.code, 0, cloned.stderr);
    assert.equal((await git(clone, ['rev-parse', 'HEAD'])).stdout.trim(), sha);
  });

  test('one build at a time per app: a second push while one builds is refused clearly', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'busy' })).status, 201);
    const bp = makeBuildpack(join(tmp, 'bp-slow'), 4);
    await api(ctl.url, 'PUT', '/apps/busy/buildpack-installations', { updates: [bp] });
    const a = await helloRepo();
    const b = await helloRepo();
    const first = git(a.dir, ['push', remote(ctl.url, 'busy'), 'main']);
    // Wait until the first build is running (its record is pending).
    for (let i = 0; i < 200; i++) {
      const builds = (await api(ctl.url, 'GET', '/apps/busy/builds')).body;
      if (builds.length && builds[0].status === 'pending') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const second = await git(b.dir, ['push', '--force', remote(ctl.url, 'busy'), 'main']);
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /remote:  !     Another build of busy is in progress \(build [0-9a-f-]+, pushed by admin\); wait for it to finish, then push again\./);
    const done = await first;
    assert.equal(done.code, 0, done.stderr);

    // The builds API: the running build's output could be followed; finished builds list with their release and slug.
    const builds = (await api(ctl.url, 'GET', '/apps/busy/builds')).body;
    assert.equal(builds.length, 1, 'the refused push left no build record');
    const info = (await api(ctl.url, 'GET', `/apps/busy/builds/${builds[0].id}`)).body;
    assert.equal(info.status, 'succeeded');
    assert.equal(info.source_blob.version, a.sha);
    assert.equal(info.release.version, 2);
    assert.match(info.slug.checksum, /^SHA256:[0-9a-f]{64}$/);
    const out = await fetch(info.output_stream_url, { headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await out.text();
    assert.match(text, /-----> custom step one\n[\s\S]*Released v2/);
    assert.equal((await api(ctl.url, 'GET', '/apps/busy/builds/not-a-build')).status, 404);
  });

  test('the output of a running build can be followed through the API until it ends', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'follow' })).status, 201);
    const bp = makeBuildpack(join(tmp, 'bp-follow'), 2);
    await api(ctl.url, 'PUT', '/apps/follow/buildpack-installations', { updates: [bp] });
    const repo = await helloRepo();
    const push = git(repo.dir, ['push', remote(ctl.url, 'follow'), 'main']);
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (await api(ctl.url, 'GET', '/apps/follow/builds')).body[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id);
    const res = await fetch(`${ctl.url}/apps/follow/builds/${id}/output`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await res.text(); // ends only when the build does
    assert.match(text, /custom step one[\s\S]*custom step two[\s\S]*Released v2/);
    assert.equal((await push).code, 0);
  });

  test('a control stopping mid-build rejects the push with the reason and releases nothing (runs last: it stops the control)', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'interrupted' })).status, 201);
    const bp = makeBuildpack(join(tmp, 'bp-interrupted'), 30);
    await api(ctl.url, 'PUT', '/apps/interrupted/buildpack-installations', { updates: [bp] });
    const repo = await helloRepo();
    const push = git(repo.dir, ['push', remote(ctl.url, 'interrupted'), 'main']);
    let id: string | undefined;
    for (let i = 0; i < 200 && !id; i++) {
      id = (await api(ctl.url, 'GET', '/apps/interrupted/builds')).body[0]?.id;
      if (!id) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(id, 'build started');
    ctl.child.kill('SIGTERM');
    const r = await push;
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /remote:  !     The control plane is shutting down; push again\./);
    const build = (await cluster.get(cluster.keys.build('interrupted', id)))!.value;
    assert.equal(build.status, 'failed');
    assert.equal((await cluster.get(cluster.keys.current('interrupted')))!.value.version, 1, 'no release');
  });
});
