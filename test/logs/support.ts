/** Log tests: control instances sharing one cluster key, a producer, and a line reader for streams. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Cluster } from '../../cluster/client.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';
import { connect } from 'node:net';
import { deriveCredential, proof } from '../../logplex/credential.ts';
import { ACK, AUTH, encodeFrame, FrameReader, HELLO, type Frame } from '../../logplex/wire.ts';
import { LogShipper, type ShipperOptions } from '../../logplex/shipper.ts';
import type { TestEtcd } from '../support/etcd.ts';
import { ADMIN, startControl } from '../control/support.ts';
import type { ControlOptions } from '../../control/control.ts';

export const quiet = () => pino({ level: process.env.DYNOMESH_LOG_LEVEL ?? 'silent' });

/** A new cluster key file (mode 0600) and its key. */
export function clusterKeyFile(): { path: string; key: Buffer } {
  const path = join(mkdtempSync(join(tmpdir(), 'dynomesh-logs-key-')), 'cluster.key');
  return { path, key: loadClusterKey(path, true) };
}

/** `n` control instances on one etcd prefix and one cluster key (as a real cluster shares its key file). */
export async function startControls(etcd: TestEtcd, cluster: Cluster, n: number, extra: Partial<ControlOptions> = {}) {
  const keyPath = extra.clusterKeyPath ?? clusterKeyFile().path;
  const out = [];
  for (let i = 0; i < n; i++) out.push(await startControl(etcd, cluster, { ...extra, clusterKeyPath: keyPath }));
  return out;
}

/** A producer with a credential derived from `clusterKey`; by default a control peer's, which may write any source. */
export async function producer(cluster: Cluster, clusterKey: Buffer, opts: Partial<ShipperOptions> = {}, id = 'control:test-producer'): Promise<LogShipper> {
  const s = LogShipper.forCluster(cluster, quiet(), { credential: deriveCredential(clusterKey, id), ...opts });
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

/**
 * A hand-driven producer connection to a log service (`host:port`): answers the
 * service's HELLO with `id`'s proof under `clusterKey` (or with `auth` given, that
 * frame; `null` answers nothing), then sends what the test writes.
 */
export async function rawProducer(address: string, clusterKey: Buffer | undefined, id = 'control:raw', auth?: Frame | null) {
  const i = address.lastIndexOf(':');
  const sock = connect({ host: address.slice(0, i), port: Number(address.slice(i + 1)) });
  const reader = new FrameReader();
  const acks: number[] = [];
  let closed = false;
  const hello = new Promise<Buffer>((resolve, reject) => {
    sock.on('data', (c: Buffer) => {
      for (const f of reader.push(c)) {
        if (f[0] === HELLO) resolve(f[1]);
        else if (f[0] === ACK) acks.push(f[1]);
      }
    });
    sock.on('error', reject);
  });
  sock.on('close', () => (closed = true));
  const nonce = await hello;
  if (auth !== null) {
    const cred = clusterKey ? deriveCredential(clusterKey, id) : undefined;
    sock.write(encodeFrame(auth ?? [AUTH, id, cred ? proof(cred.secret, nonce, id) : Buffer.alloc(32)]));
  }
  return {
    sock,
    acks,
    get closed() {
      return closed;
    },
    send: (f: Frame) => sock.write(encodeFrame(f)),
  };
}
