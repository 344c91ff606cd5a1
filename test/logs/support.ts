/** Log tests: control instances sharing one cluster key, a producer, and a line reader for streams. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { LogShipper, type ShipperOptions } from '../../logplex/shipper.ts';
import type { TestEtcd } from '../support/etcd.ts';
import { ADMIN, startControl } from '../control/support.ts';
import type { ControlOptions } from '../../control/control.ts';

export const quiet = () => pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' });

/** `n` control instances on one etcd prefix and one cluster key (as a real cluster shares its key file). */
export async function startControls(etcd: TestEtcd, cluster: Cluster, n: number, extra: Partial<ControlOptions> = {}) {
  const keyDir = mkdtempSync(join(tmpdir(), 'dynomesh-logs-key-'));
  const out = [];
  for (let i = 0; i < n; i++) out.push(await startControl(etcd, cluster, { clusterKeyPath: join(keyDir, 'cluster.key'), ...extra }));
  return out;
}

export async function producer(cluster: Cluster, opts: ShipperOptions = {}): Promise<LogShipper> {
  const s = LogShipper.forCluster(cluster, quiet(), opts);
  await s.members.start();
  return s;
}

/** Reads a text stream line by line as it arrives. */
export class LineReader {
  readonly lines: string[] = [];
  ended = false;
  error: Error | undefined;
  status = 0;
  headers: Headers | undefined;
  private readonly abort = new AbortController();
  readonly done: Promise<void>;

  constructor(url: string, token: string | null = ADMIN) {
    this.done = (async () => {
      try {
        const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: this.abort.signal });
        this.status = res.status;
        this.headers = res.headers;
        let partial = '';
        const decoder = new TextDecoder();
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          const parts = (partial + decoder.decode(chunk, { stream: true })).split('\n');
          partial = parts.pop()!;
          this.lines.push(...parts);
        }
        if (partial) this.lines.push(partial);
        this.ended = true;
      } catch (err) {
        this.error = err as Error;
      }
    })();
  }

  close(): void {
    this.abort.abort();
  }
}

export async function waitFor<T>(fn: () => T | undefined | false, ms = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `2026-...+00:00 app[web.1]: text` -> parts. */
export function parseLine(l: string): { ts: string; source: string; dyno: string; text: string } | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00) (app|heroku)\[([^\]]+)\]: (.*)$/.exec(l);
  return m ? { ts: m[1]!, source: m[2]!, dyno: m[3]!, text: m[4]! } : undefined;
}
