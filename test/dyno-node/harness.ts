/** An in-process agent against real etcd, with a slug server, for the integration tests. */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import type { Cluster } from '../../cluster/client.ts';
import { Agent, type AgentOptions } from '../../dyno-node/agent.ts';
import { enrolNode, type NodeCredentialFile } from '../../cluster/node-credential.ts';
import type { LogRecord } from '../../dyno-node/output.ts';
import { eventually } from '../support/etcd.ts';
import { dataDir, SlugServer } from './fixtures.ts';
import { pino } from 'pino';

export interface Harness {
  agent: Agent;
  nodeId: string;
  slugs: SlugServer;
  /** The cluster key the test's fake control holds (the agent never gets it). */
  key: Buffer;
  credential: NodeCredentialFile;
  dir: string;
  stop(): Promise<void>;
  /** Lines of one dyno (heroku + app), as the ring holds them. */
  lines(app: string, dyno: string): LogRecord[];
  waitLine(app: string, dyno: string, re: RegExp, ms?: number): Promise<LogRecord>;
}

export async function startAgent(cluster: Cluster, opts: Partial<AgentOptions> & { clusterKey?: Buffer } = {}): Promise<Harness> {
  const { clusterKey, ...agentOpts } = opts;
  const key = clusterKey ?? randomBytes(32);
  const slugs = new SlugServer(key);
  await slugs.start(cluster);
  const dir = opts.dataDir ?? (await dataDir());
  const nodeId = opts.nodeId ?? `node-${randomBytes(3).toString('hex')}`;
  const credential = opts.credential ?? (await enrolNode(cluster, key, nodeId, 'test'));
  const agent = new Agent({
    cluster, credential, nodeId, dataDir: dir, leaseTtlSeconds: 3, bootTimeoutMs: 10_000, stopTimeoutMs: 3000,
    drainMs: 100, coolOffsMs: [400, 800, 1600], goodRunMs: 60_000, memoryPollMs: 100,
    log: pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' }), sink: { write: () => undefined },
    ...agentOpts,
  });
  await agent.start();
  const h: Harness = {
    agent, nodeId, slugs, key, credential, dir,
    async stop() {
      await agent.shutdown();
      await slugs.stop();
      await rm(dir, { recursive: true, force: true });
    },
    lines: (app, dyno) => agent.ring.lines(app, dyno),
    waitLine: (app, dyno, re, ms = 15_000) =>
      eventually(() => agent.ring.lines(app, dyno).find((l) => re.test(l.line)), ms, `log line ${re} of ${app} ${dyno}`),
  };
  return h;
}
