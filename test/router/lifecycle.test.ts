/**
 * The router process's life: refuses to run without the native uWS addon; keeps serving
 * its last table while etcd is down (and says so in log and metrics), catches
 * up when etcd is back; SIGTERM stops accepting, finishes in-flight requests,
 * exits 0.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import type { Cluster } from '../../cluster/client.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { ROUTER_MAIN, addApp, addEndpoint, get, metrics, nameOf, startBackend, startRouter, type Backend, type RouterProc } from './helpers.ts';

const etcd = useEtcd();

describe('router lifecycle', () => {
  let cluster: Cluster;
  let router: RouterProc;
  const backends: Backend[] = [];

  before(async () => {
    cluster = etcd.cluster();
    backends.push(...(await Promise.all(['l1', 'l2'].map(startBackend))));
    await addApp(cluster, 'life');
    await addEndpoint(cluster, 'life', 'web.1', backends[0]!.port);
    router = await startRouter(cluster, ['--drain-timeout', '5s']);
  });
  after(async () => {
    await router?.stop('SIGKILL');
    await Promise.all(backends.map((b) => b.kill()));
  });

  test('`dynomesh router` is registered in the CLI', () => {
    const r = spawnSync(process.execPath, ['bin/dynomesh.js', 'router', '--help'], {
      cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(r.status, 0, r.stderr);
    for (const flag of ['--port', '--admin-port', '--base-domain', '--first-byte-timeout', '--etcd']) assert.ok(r.stdout.includes(flag), flag);
  });

  test('refuses to start when the uWS native addon cannot load, with a clear message and exit code 3', () => {
    // --no-addons makes every native addon fail to load, as a wrong Node ABI or glibc would
    const r = spawnSync(process.execPath, ['--no-addons', '--import', 'tsx', ROUTER_MAIN, '--etcd', etcd.server.endpoint, '--port', '0', '--admin-port', 'off'], {
      cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(r.status, 3, r.stderr);
    assert.match(r.stderr, /native addon uws_\w+\.node did not load.*refuses to run without it/);
  });

  test('DYNOMESH_UWS_MODULE picks another installed build; one that does not load is refused with exit 3', () => {
    const root = new URL('../../', import.meta.url).pathname;
    const probe = `import { loadUws, uwsStartRecord } from './router/uws.ts'; loadUws(16384); console.log(JSON.stringify(uwsStartRecord(16384)));`;
    const other = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', probe], {
      cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, DYNOMESH_UWS_MODULE: `${root}node_modules/uWebSockets.js` },
    });
    assert.equal(other.status, 0, other.stderr);
    const rec = JSON.parse(other.stdout) as { uws: string; addon: string; measured: boolean };
    assert.match(rec.addon, /node_modules\/uWebSockets\.js\/uws_linux_\w+\.node$/);
    assert.equal(rec.measured, true);
    const none = spawnSync(process.execPath, ['--import', 'tsx', ROUTER_MAIN, '--etcd', etcd.server.endpoint, '--port', '0', '--admin-port', 'off'], {
      cwd: root, encoding: 'utf8', timeout: 30_000, env: { ...process.env, DYNOMESH_UWS_MODULE: '/nonexistent/uWebSockets.js' },
    });
    assert.equal(none.status, 3, none.stderr);
    assert.match(none.stderr, /did not load from \/nonexistent\/uWebSockets\.js .*refuses to run without it/);
  });

  test('bad flags stop it with one line', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', ROUTER_MAIN, '--etcd', etcd.server.endpoint, '--first-byte-timeout', 'soon'], {
      cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8', timeout: 30_000,
    });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /"soon" is not a duration/);
    const z = spawnSync(process.execPath, ['--import', 'tsx', ROUTER_MAIN, '--etcd', etcd.server.endpoint, '--idle-timeout', '0'], {
      cwd: new URL('../../', import.meta.url).pathname, encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(z.status, 2);
    assert.equal(z.stderr, 'dynomesh router: --idle-timeout must be more than 0 (example: 30s)\n');
  });

  test('etcd down: the last table keeps serving and metrics say so; back up: changes apply again', async () => {
    assert.equal(nameOf(await get(router.port, 'life.localhost')), 'l1');
    await etcd.server.stop();
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_etcd_connected') === 0, 15_000, 'etcd disconnected in metrics');
    for (let i = 0; i < 50; i++) assert.equal(nameOf(await get(router.port, 'life.localhost')), 'l1');
    assert.ok(router.logs.some((r) => r.msg === 'etcd-unreachable-serving-last-table'));
    const m = await metrics(router.adminPort);
    assert.ok(m.get('dynomesh_router_route_table_stale_seconds')! > 0);
    assert.equal(m.get('dynomesh_router_route_table_endpoints'), 1);

    await etcd.server.start();
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_etcd_connected') === 1, 20_000, 'etcd reconnected');
    await addEndpoint(cluster, 'life', 'web.1', backends[1]!.port);
    await eventually(async () => nameOf(await get(router.port, 'life.localhost')) === 'l2', 10_000, 'the moved endpoint to apply');
  });

  test('SIGTERM: in-flight requests finish, new connections are refused, exit 0', async () => {
    const slow = get(router.port, 'life.localhost', '/slow?ms=1500', { agent: false });
    await eventually(async () => (await metrics(router.adminPort)).get('dynomesh_router_in_flight') === 1, 5000, 'request in flight');
    const exited = router.stop('SIGTERM');
    await eventually(() => router.logs.some((r) => r.msg === 'router-draining'), 5000, 'draining');
    await assert.rejects(get(router.port, 'life.localhost', '/', { agent: false }), /ECONNREFUSED/);
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(nameOf(r), 'l2');
    assert.equal(await exited, 0);
  });
});
