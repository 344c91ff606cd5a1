/**
 * Heroku's Build API against a real control process: POST /apps/:app/builds
 * with a source tarball URL (served here on loopback), checksum checked,
 * output followed to the end, release "Deploy <version>"; bad tarballs refused.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, cpSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tar from 'tar';
import type { Cluster } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';
import { ADMIN, APPS, api, spawnControl, type ControlProc } from './support.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: ControlProc;
let tmp: string;
let files: Server;
let filesUrl: string;

/** A .tar.gz of `dir` under one top-level directory `top`, as GitHub's archives are. */
async function tarball(dir: string, top: string, name: string): Promise<{ url: string; sha256: string }> {
  const stage = join(tmp, `stage-${name}`);
  mkdirSync(stage);
  cpSync(dir, join(stage, top), { recursive: true, verbatimSymlinks: true });
  const file = join(tmp, name);
  await tar.c({ gzip: true, cwd: stage, file, portable: true }, [top]);
  return { url: `${filesUrl}/${name}`, sha256: createHash('sha256').update(readFileSync(file)).digest('hex') };
}

async function finished(app: string, id: string) {
  const out = await fetch(`${ctl.url}/apps/${app}/builds/${id}/output`, { headers: { authorization: `Bearer ${ADMIN}` } });
  const text = await out.text(); // follows the running build to its end
  return { text, info: (await api(ctl.url, 'GET', `/apps/${app}/builds/${id}`)).body };
}

describe('Build API (source tarballs)', () => {
  before(async () => {
    cluster = etcd.cluster();
    // The tarballs are served on 127.0.0.1, which tenants may reach only because the operator allows it.
    ctl = await spawnControl(etcd, cluster.keys.prefix, ['--outbound-allow', '127.0.0.1/32']);
    tmp = mkdtempSync(join(tmpdir(), 'dm-api-build-'));
    files = createServer((req, res) => {
      if (req.url === '/to-metadata') return void res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
      try {
        const body = readFileSync(join(tmp, (req.url ?? '/').slice(1)));
        res.writeHead(200, { 'content-length': body.length }).end(body);
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
    filesUrl = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
  });
  after(async () => {
    files?.close();
    await ctl?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('a tarball URL with its checksum builds and releases "Deploy <version>"; the top-level dir is stripped', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'tarred' })).status, 201);
    const src = await tarball(join(APPS, 'static'), 'site-1.0', 'site.tgz');
    const r = await api(ctl.url, 'POST', '/apps/tarred/builds', { source_blob: { url: src.url, checksum: `SHA256:${src.sha256}`, version: 'v1.0' } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.status, 'pending');
    assert.equal(r.body.source_blob.version, 'v1.0');
    const { text, info } = await finished('tarred', r.body.id);
    assert.match(text, /-----> Static HTML app detected[\s\S]*Released v2/);
    assert.equal(info.status, 'succeeded');
    assert.equal(info.release.version, 2);
    const rel = (await cluster.get(cluster.keys.release('tarred', 2)))!.value;
    assert.equal(rel.description, 'Deploy v1.0');
    assert.deepEqual(rel.processTypes, { web: 'node .dynomesh/static-server.cjs' });
  });

  test('per-build buildpacks override the app\'s; a wrong checksum or an escaping link fails the build; bad bodies get 422', async () => {
    assert.equal((await api(ctl.url, 'POST', '/apps', { name: 'tar2' })).status, 201);
    const src = await tarball(join(APPS, 'procfile'), 'app', 'proc.tgz');
    const r = await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: src.url }, buildpacks: [{ url: 'heroku/procfile' }] });
    assert.equal(r.status, 201);
    const ok = await finished('tar2', r.body.id);
    assert.equal(ok.info.status, 'succeeded', ok.text);
    assert.match(ok.text, /Using buildpack: heroku\/procfile/);
    assert.match((await cluster.get(cluster.keys.release('tar2', 2)))!.value.description, /^Deploy [0-9a-f]{7}$/, 'no version: the slug id');

    const wrong = await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: src.url, checksum: `SHA256:${'0'.repeat(64)}` } });
    assert.equal(wrong.status, 201);
    const bad = await finished('tar2', wrong.body.id);
    assert.equal(bad.info.status, 'failed');
    assert.match(bad.info.failure_message, /sha256 is [0-9a-f]{64}, not the 0{64} given in source_blob\.checksum/);

    const evil = join(tmp, 'evil');
    mkdirSync(evil);
    writeFileSync(join(evil, 'Procfile'), 'web: true\n');
    symlinkSync('/etc/passwd', join(evil, 'passwd'));
    const esc = await tarball(evil, 'x', 'evil.tgz');
    const e = await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: esc.url } });
    const refused = await finished('tar2', e.body.id);
    assert.equal(refused.info.status, 'failed');
    assert.match(refused.info.failure_message, /the source tarball was refused: x\/passwd: symlink to absolute path \/etc\/passwd/);
    assert.equal((await api(ctl.url, 'GET', '/apps/tar2/releases')).body.length, 2, 'failed builds release nothing');

    const missing = await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: `${filesUrl}/nope.tgz` } });
    const gone = await finished('tar2', missing.body.id);
    assert.match(gone.info.failure_message, /HTTP 404/);

    // The URL is the tenant's: a private address, or a redirect to the metadata service, is refused in one line.
    for (const [url, want] of [
      [src.url.replace('127.0.0.1', '127.0.0.2'), /^source_blob\.url refused: 127\.0\.0\.2 is a loopback address, which tenants may not reach/],
      [`${filesUrl}/to-metadata`, /^source_blob\.url refused: 169\.254\.169\.254 is a cloud metadata address/],
    ] as const) {
      const b = await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url } });
      const f = await finished('tar2', b.body.id);
      assert.equal(f.info.status, 'failed', url);
      assert.match(f.info.failure_message, want, url);
    }

    assert.equal((await api(ctl.url, 'POST', '/apps/tar2/builds', {})).status, 422);
    assert.match((await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: 'ftp://x/y.tgz' } })).body.message, /http or https/);
    assert.match((await api(ctl.url, 'POST', '/apps/tar2/builds', { source_blob: { url: src.url, checksum: 'md5:abc' } })).body.message, /SHA256:/);
    assert.equal((await api(ctl.url, 'POST', '/apps/nope/builds', { source_blob: { url: src.url } })).status, 404);
  });
});
