/**
 * One-off dynos (`run.N`): attached ones start when their requester connects to
 * the node's attach WebSocket, stream output back, take stdin, and die when the
 * requester goes; detached ones log their output; none is ever restarted.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import type { Cluster } from '../../cluster/client.ts';
import { attachPath, signRequest } from '../../cluster/node-credential.ts';
import { groupAlive } from '../../dyno-node/procfs.ts';
import { useEtcd, eventually } from '../support/etcd.ts';
import { makeSlug, place, putRelease } from './fixtures.ts';
import { startAgent, type Harness } from './harness.ts';
import { rm } from 'node:fs/promises';
import { statusOf } from '../support/dyno-keys.ts';

const etcd = useEtcd();

async function setup(cluster: Cluster, h: Harness, app: string) {
  const s = await makeSlug({ Procfile: 'web: node server.js\n', 'server.js': '' });
  h.slugs.add(s);
  await putRelease(cluster, h.key, app, 1, s.slug, { web: 'node server.js' }, { GREETING: 'hello' });
}

/** As a control attaches: the request signed with the node's own credential. */
function attach(h: Harness, app: string, dyno: string, authorization = signRequest(h.credential.secret, h.nodeId, 'control', 'GET', attachPath(app, dyno))) {
  const ws = new WebSocket(`${h.agent.agentUrl!.replace('http', 'ws')}${attachPath(app, dyno)}`, { headers: { authorization } });
  const out = { stdout: '', stderr: '', exit: undefined as { status: number | null; message: string } | undefined, closed: false, error: '' };
  ws.on('message', (data, binary) => {
    const b = data as Buffer;
    if (binary) out[b[0] === 1 ? 'stdout' : 'stderr'] += b.subarray(1).toString();
    else out.exit = JSON.parse(b.toString()) as never;
  });
  ws.on('close', () => (out.closed = true));
  ws.on('error', (err) => (out.error = err.message));
  ws.on('unexpected-response', (_req, res) => (out.error = `HTTP ${res.statusCode}`));
  return { ws, out };
}

describe('one-off dynos', () => {
  test('attached: output streams back, stdin goes in, exit status comes back, never restarted', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      await setup(cluster, h, 'ops');
      const node = await cluster.get(cluster.keys.node(h.nodeId));
      assert.equal(node?.value.agentUrl, h.agent.agentUrl, 'attach URL advertised in the node record');
      // The requester may arrive before the placement reaches the node.
      const { ws, out } = attach(h, 'ops', 'run.1');
      await new Promise((r) => ws.once('open', r));
      await place(cluster, h.nodeId, {
        app: 'ops', dyno: 'run.1', type: 'run', release: 1, attach: true,
        command: 'echo "$GREETING from $DYNO"; read line; echo "got $line"; echo oops >&2; exit 3',
      });
      await eventually(() => out.stdout.includes('hello from run.1'), 15_000, 'first output');
      ws.send(Buffer.from('world\n'), { binary: true });
      await eventually(() => out.closed, 15_000, 'socket closed at exit');
      assert.equal(out.stdout, 'hello from run.1\ngot world\n');
      assert.equal(out.stderr, 'oops\n');
      assert.equal(out.exit?.status, 3);
      const st = await eventually(async () => {
        const e = await statusOf(cluster, 'ops', 'run.1');
        return e?.value.state === 'down' ? e : undefined;
      }, 5000, 'status down');
      assert.equal(st.value.exitCode, 3);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(h.lines('ops', 'run.1').filter((l) => l.line.startsWith('Starting process')).length, 1, 'not restarted');
    } finally {
      await h.stop();
    }
  });

  test('attached: input typed before the dyno started is not lost', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      await setup(cluster, h, 'ops6');
      const { ws, out } = attach(h, 'ops6', 'run.2');
      await new Promise((r) => ws.once('open', r));
      // `echo x | dynomesh run cat`: the input and its end arrive before the process exists.
      ws.send(Buffer.from('piped line\n'), { binary: true });
      ws.send(JSON.stringify({ type: 'eof' }));
      await place(cluster, h.nodeId, { app: 'ops6', dyno: 'run.2', type: 'run', release: 1, attach: true, command: 'cat' });
      await eventually(() => out.closed, 15_000, 'cat to see end of input and exit');
      assert.equal(out.stdout, 'piped line\n');
      assert.equal(out.exit?.status, 0);
    } finally {
      await h.stop();
    }
  });

  test('attached: the dyno is killed when the requester disconnects', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      await setup(cluster, h, 'ops2');
      await place(cluster, h.nodeId, { app: 'ops2', dyno: 'run.7', type: 'run', release: 1, attach: true, command: 'echo pid $$; exec sleep 60' });
      const { ws, out } = attach(h, 'ops2', 'run.7');
      const pid = Number((await eventually(() => /pid (\d+)/.exec(out.stdout), 15_000, 'pid'))[1]);
      assert.ok(await groupAlive(pid));
      ws.close();
      await eventually(async () => !(await groupAlive(pid)), 10_000, 'killed after disconnect');
      await eventually(async () => (await statusOf(cluster, 'ops2', 'run.7'))?.value.state === 'down', 5000, 'down');
      assert.ok(h.lines('ops2', 'run.7').some((l) => /Client disconnected/.test(l.line)));
    } finally {
      await h.stop();
    }
  });

  test('attach refuses a wrong token; nobody attaching within the timeout is R13', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { attachTimeoutMs: 600 });
    try {
      await setup(cluster, h, 'ops3');
      const bad = attach(h, 'ops3', 'run.1', 'not-the-token');
      await eventually(() => bad.out.error, 5000, 'refused');
      assert.equal(bad.out.error, 'HTTP 401');
      await place(cluster, h.nodeId, { app: 'ops3', dyno: 'run.1', type: 'run', release: 1, attach: true, command: 'echo never' });
      const st = await eventually(async () => {
        const e = await statusOf(cluster, 'ops3', 'run.1');
        return e?.value.state === 'down' ? e : undefined;
      }, 10_000, 'down');
      assert.match(st.value.message, /R13 \(Attach error\)/);
      assert.ok(!h.lines('ops3', 'run.1').some((l) => l.line === 'never'));
    } finally {
      await h.stop();
    }
  });

  test('a one-off waiting for its requester goes at once when its placement is removed', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster, { attachTimeoutMs: 60_000 });
    try {
      await setup(cluster, h, 'ops5');
      await place(cluster, h.nodeId, { app: 'ops5', dyno: 'run.3', type: 'run', release: 1, attach: true, command: 'echo never' });
      await h.waitLine('ops5', 'run.3', /^Awaiting client$/);
      const t0 = Date.now();
      await cluster.delete(cluster.keys.placement(h.nodeId, 'ops5', 'run.3'));
      await eventually(() => h.agent.slots.size === 0, 5000, 'slot gone');
      assert.ok(Date.now() - t0 < 5000);
      // The status delete is queued behind the slot's last status write (dyno-node/publisher.ts); it lands soon after.
      await eventually(async () => (await statusOf(cluster, 'ops5', 'run.3')) === undefined, 5000, 'status gone');
    } finally {
      await h.stop();
    }
  });

  test('detached (run:detached): output goes to the logs, and it is not restarted after exit', async () => {
    const cluster = etcd.cluster();
    const h = await startAgent(cluster);
    try {
      await setup(cluster, h, 'ops4');
      await place(cluster, h.nodeId, { app: 'ops4', dyno: 'run.2', type: 'run', release: 1, command: 'echo "migrating with $GREETING"; exit 0' });
      await h.waitLine('ops4', 'run.2', /^migrating with hello$/);
      const st = await eventually(async () => {
        const e = await statusOf(cluster, 'ops4', 'run.2');
        return e?.value.state === 'down' ? e : undefined;
      }, 10_000, 'down');
      assert.equal(st.value.exitCode, 0);
      await new Promise((r) => setTimeout(r, 700));
      assert.equal(h.lines('ops4', 'run.2').filter((l) => l.line.startsWith('Starting process')).length, 1);

      // A restarted agent on the same host does not run the finished one-off again.
      await h.agent.shutdown();
      const again = await startAgent(cluster, { nodeId: h.nodeId, dataDir: h.dir, clusterKey: h.key, credential: h.credential });
      try {
        await eventually(async () => (await statusOf(cluster, 'ops4', 'run.2'))?.value.state === 'down', 10_000, 'down again');
        await new Promise((r) => setTimeout(r, 700));
        assert.equal(again.lines('ops4', 'run.2').filter((l) => l.line.startsWith('Starting process')).length, 0, 'not run twice');
      } finally {
        await again.stop();
      }
    } finally {
      await h.slugs.stop();
      await rm(h.dir, { recursive: true, force: true });
    }
  });
});
