/**
 * Control with a real dyno-node agent (in-process) on real etcd: the agent
 * fetches the slug from control's slug route with the node token, runs the
 * placement the scheduler wrote with the unsealed config, and a config change
 * rolls the web dyno with preboot (a routable dyno at every moment).
 */
import { enrolNode } from '../../cluster/node-credential.ts';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create as tarCreate } from 'tar';
import { pino } from 'pino';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import { Agent } from '../../dyno-node/agent.ts';
import { deployRelease } from '../../control/releases.ts';
import { eventually, useEtcd } from '../support/etcd.ts';
import { startControl } from './support.ts';
import { listEndpointsOf, listStatusesOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();

const SERVER = `
const http = require('http');
http.createServer((req, res) => res.end('greeting=' + process.env.GREETING + ' dyno=' + process.env.DYNO)).listen(process.env.PORT);
`;

describe('control with a real dyno-node', () => {
  let cluster: Cluster;
  let ctl: Awaited<ReturnType<typeof startControl>>;
  let agent: Agent;
  let dir: string;

  before(async () => {
    cluster = etcd.cluster();
    ctl = await startControl(etcd, cluster);
    dir = mkdtempSync(join(tmpdir(), 'dm-ctl-node-'));
    chmodSync(dir, 0o711);
    agent = new Agent({
      cluster, credential: await enrolNode(cluster, ctl.control.ctx.clusterKey, 'real-node', 'test'), nodeId: 'real-node', dataDir: join(dir, 'node'), leaseTtlSeconds: 3,
      bootTimeoutMs: 15_000, stopTimeoutMs: 3000, drainMs: 100, attachListen: false,
      log: pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' }), sink: { write: () => undefined },
    });
    await agent.start();
  });

  after(async () => {
    await agent?.shutdown();
    await ctl?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const endpoints = async () => (await listEndpointsOf(cluster, 'greet')).entries as EntryOf<'endpoint'>[];
  const get = async (e: EntryOf<'endpoint'>) => (await fetch(`http://${e.value.host}:${e.value.port}/`)).text();

  test('deploy, config change with preboot, scale to zero', async () => {
    const app = join(dir, 'app');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(app, { mode: 0o755 });
    writeFileSync(join(app, 'Procfile'), 'web: node server.js\n');
    writeFileSync(join(app, 'server.js'), SERVER);
    const slugFile = join(dir, 'slug.tgz');
    await tarCreate({ gzip: true, file: slugFile, cwd: app, portable: true }, ['.']);
    const { createReadStream } = await import('node:fs');
    const stored = await ctl.control.ctx.slugs.put(createReadStream(slugFile));

    assert.equal((await ctl.api('POST', '/apps', { name: 'greet' })).status, 201);
    await ctl.api('PATCH', '/apps/greet/config-vars', { GREETING: 'hello' });
    const rel = await deployRelease(ctl.control.ctx, 'greet', {
      slug: { id: stored.sha256, sha256: stored.sha256, size: stored.size }, processTypes: { web: 'node server.js' }, author: 'test',
    });
    const first = await eventually(async () => {
      const eps = await endpoints();
      return eps.length === 1 && eps[0]!.value.release === rel.version ? eps[0] : undefined;
    }, 30_000, 'web.1 routable');
    assert.equal(await get(first), 'greeting=hello dyno=web.1');
    const ps = (await ctl.api('GET', '/apps/greet/dynos')).body;
    assert.deepEqual([ps[0].name, ps[0].state, ps[0].release.version, ps[0].node], ['web.1', 'up', rel.version, 'real-node']);

    // A config change is a release; the web dyno is replaced with preboot.
    let min = Infinity;
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        min = Math.min(min, (await endpoints()).length);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const set = await ctl.api('PATCH', '/apps/greet/config-vars', { GREETING: 'bonjour' });
    const v = Number(set.headers.get('x-dynomesh-release'));
    assert.equal(v, rel.version + 1);
    const rolled = await eventually(async () => {
      const eps = await endpoints();
      return eps.length === 1 && eps[0]!.value.release === v ? eps[0] : undefined;
    }, 30_000, 'rolled to the new release');
    stop = true;
    await sampler;
    assert.equal(min, 1, 'the app was routable during the roll');
    assert.equal(await get(rolled), 'greeting=bonjour dyno=web.2');
    await eventually(async () => (await cluster.list(cluster.keys.placementsOf('real-node'))).entries.length === 1, 10_000, 'old dyno gone');

    await ctl.api('PATCH', '/apps/greet/formation/web', { quantity: 0 });
    await eventually(async () => (await endpoints()).length === 0 && (await listStatusesOf(cluster, 'greet')).entries.length === 0, 15_000, 'scaled to zero');
    await assert.rejects(fetch(`http://${rolled.value.host}:${rolled.value.port}/`), 'the process is gone');
  });
});
