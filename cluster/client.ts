/**
 * A typed client over etcd3: every read decodes through `codec.ts`, every write
 * encodes, and keys come only from `keys.ts`. Revisions are numbers (safe far
 * beyond any real cluster's lifetime).
 */
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, isBrokenCircuitError, retry } from 'cockatiel';
import { decode, encode } from './codec.ts';
import { ClusterError, DecodeError, UnavailableError } from './errors.ts';
import { keyspace, type Key, type KeyRef, type Keyspace, type Prefix } from './keys.ts';
import type { RecordKind, RecordOf } from './records.ts';

export interface ClusterOptions {
  endpoints: string[];
  prefix?: string;
  tls?: { ca: Buffer; cert?: Buffer; key?: Buffer };
  auth?: { username: string; password: string };
  /** Deadline for a unary call (get/put/txn), so an unreachable etcd fails fast with a clear error. */
  callTimeoutMs?: number;
}

/** A decoded key-value, discriminated by the kind of key. */
export type Entry = {
  [K in RecordKind]: {
    kind: K;
    key: string;
    ref: Extract<KeyRef, { kind: K }>;
    value: RecordOf[K];
    modRevision: number;
    createRevision: number;
    lease: string;
  };
}[RecordKind];

export type EntryOf<K extends RecordKind> = Extract<Entry, { kind: K }>;

/** A key-value as etcd3's raw RPCs return it. */
export interface RawKv {
  key: Buffer;
  value: Buffer;
  mod_revision: string;
  create_revision: string;
  lease: string;
}

export type Compare =
  | { key: string; target: 'create' | 'mod' | 'version'; op: '==' | '!=' | '<' | '>'; value: number }
  | { key: string; target: 'lease'; op: '==' | '!='; value: string };

export type Op =
  | { put: string; value: Buffer; lease?: string }
  | { del: string; prefix?: boolean };

const RESULT = { '==': 'Equal', '!=': 'NotEqual', '<': 'Less', '>': 'Greater' } as const;

/** Keys per range call in `list` (each reply stays well under gRPC's 4 MB limit). */
const LIST_PAGE = 5000;

/** etcd's range end for "every key starting with prefix". */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = b.subarray(0, i + 1);
      end[i]!++;
      return end;
    }
  }
  return Buffer.of(0);
}

export class Cluster {
  readonly etcd: Etcd3;
  readonly keys: Keyspace;
  private readonly callTimeoutMs: number;

  constructor(readonly options: ClusterOptions) {
    this.keys = keyspace(options.prefix);
    this.callTimeoutMs = options.callTimeoutMs ?? 5000;
    const etcdOptions: IOptions = {
      hosts: options.endpoints,
      dialTimeout: 3000,
      // Notice a dead connection (partition, host gone) in ~15 s instead of waiting on TCP
      // retransmits. Only with calls in flight: etcd refuses idle pings (`too_many_pings`).
      grpcOptions: { 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5000, 'grpc.keepalive_permit_without_calls': 0 },
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + this.callTimeoutMs }),
      faultHandling: {
        // Try each host once per call; a dead host is skipped for 1 s rather than etcd3's 5 s,
        // so a restarted single-member etcd is usable again quickly.
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(2, options.endpoints.length) }),
        // etcd3 wants a started backoff (it reads `.duration`), not a factory.
        watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 2000 }).next(),
      },
    };
    if (options.tls) {
      etcdOptions.credentials = { rootCertificate: options.tls.ca, privateKey: options.tls.key, certChain: options.tls.cert };
    }
    if (options.auth) etcdOptions.auth = options.auth;
    this.etcd = new Etcd3(etcdOptions);
  }

  /** Decodes a raw kv into an entry; throws DecodeError for keys outside the layout or bad values. */
  entry(kv: RawKv): Entry {
    const key = kv.key.toString();
    const ref = this.keys.parse(key);
    if (!ref || ref.kind === 'candidate') throw new DecodeError(key, 'key is not part of the dynomesh layout');
    const value = decode(ref.kind, key, kv.value);
    return {
      kind: ref.kind,
      key,
      ref,
      value,
      modRevision: Number(kv.mod_revision),
      createRevision: Number(kv.create_revision),
      lease: String(kv.lease),
    } as Entry;
  }

  /** The entry now, or as it was at `revision` (for reads that must agree with a `list` at that revision). */
  async get<K extends RecordKind>(key: Key<K>, revision?: number): Promise<EntryOf<K> | undefined> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(key), ...(revision ? { revision } : {}) }));
    const kv = res.kvs[0];
    return kv ? (this.entry(kv) as EntryOf<K>) : undefined;
  }

  /** Every decodable entry under a prefix at one revision; undecodable ones are returned apart, not thrown. */
  async list<K extends RecordKind>(prefix: Prefix<K> | string, revision?: number) {
    const entries: EntryOf<K>[] = [];
    const invalid: DecodeError[] = [];
    let rev = revision ?? 0;
    for await (const page of this.pages<K>(prefix, revision)) {
      for (const e of page.entries) entries.push(e);
      for (const e of page.invalid) invalid.push(e);
      rev = page.revision;
    }
    return { entries, invalid, revision: rev };
  }

  /**
   * The same as `list`, one page (up to 5,000 keys) at a time, every page at the revision of
   * the first: a caller that consumes pages as they come never holds the whole prefix decoded.
   * A single range reply over gRPC's 4 MB message limit fails (a router's routing/ list at
   * 10,000 apps x 10 endpoints is ~16 MB), so even `list` reads in pages.
   */
  async *pages<K extends RecordKind>(prefix: Prefix<K> | string, revision?: number, pageSize = LIST_PAGE): AsyncGenerator<{ entries: EntryOf<K>[]; invalid: DecodeError[]; revision: number; last: boolean }> {
    const end = prefixEnd(prefix);
    let from = Buffer.from(prefix);
    let rev = revision;
    for (;;) {
      const res = await this.call(() => this.etcd.kv.range({ key: from, range_end: end, limit: pageSize, ...(rev ? { revision: rev } : {}) }));
      rev ??= Number(res.header.revision);
      const entries: EntryOf<K>[] = [];
      const invalid: DecodeError[] = [];
      for (const kv of res.kvs) {
        try {
          entries.push(this.entry(kv) as EntryOf<K>);
        } catch (err) {
          if (err instanceof DecodeError) invalid.push(err);
          else throw err;
        }
      }
      const last = !res.more || res.kvs.length === 0;
      if (!last) from = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.of(0)]);
      yield { entries, invalid, revision: rev, last };
      if (last) return;
    }
  }

  /** Entries with keys in [from, to), in key order (a time range of keys that sort by time); undecodable ones skipped. */
  async range<K extends RecordKind>(from: Key<K>, to: Key<K>): Promise<EntryOf<K>[]> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(from), range_end: Buffer.from(to) }));
    const out: EntryOf<K>[] = [];
    for (const kv of res.kvs) {
      try {
        out.push(this.entry(kv) as EntryOf<K>);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
    return out;
  }

  /** Raw keys and values under a prefix, for code that handles non-record keys (elections). */
  async rawList(prefix: string, opts: { maxCreateRevision?: number; lastCreated?: boolean } = {}) {
    const res = await this.call(() =>
      this.etcd.kv.range({
        key: Buffer.from(prefix),
        range_end: prefixEnd(prefix),
        ...(opts.maxCreateRevision ? { max_create_revision: opts.maxCreateRevision } : {}),
        ...(opts.lastCreated ? { sort_target: 'Create', sort_order: 'Descend', limit: 1 } : {}),
      }),
    );
    return { kvs: res.kvs as RawKv[], revision: Number(res.header.revision) };
  }

  value<K extends RecordKind>(key: Key<K>, value: RecordOf[K]): Buffer {
    const ref = this.keys.parse(key);
    if (!ref || ref.kind === 'candidate') throw new ClusterError('DM_KEY', `${key} is not part of the dynomesh layout`);
    return encode(ref.kind as K, value);
  }

  async put<K extends RecordKind>(key: Key<K>, value: RecordOf[K], lease?: string): Promise<number> {
    const buf = this.value(key, value);
    const res = await this.call(() => this.etcd.kv.put({ key: Buffer.from(key), value: buf, ...(lease ? { lease } : {}) }));
    return Number(res.header.revision);
  }

  async delete(key: string, opts: { prefix?: boolean } = {}): Promise<number> {
    const res = await this.call(() =>
      this.etcd.kv.deleteRange({ key: Buffer.from(key), ...(opts.prefix ? { range_end: prefixEnd(key) } : {}) }),
    );
    return Number(res.header.revision);
  }

  /**
   * One etcd transaction: if every compare holds, apply `then`, else `otherwise`.
   * Returns whether the compares held and the revision it committed at.
   */
  async txn(compares: Compare[], then: Op[], otherwise: Op[] = []): Promise<{ succeeded: boolean; revision: number }> {
    const toOp = (op: Op) =>
      'put' in op
        ? { request_put: { key: Buffer.from(op.put), value: op.value, ...(op.lease ? { lease: op.lease } : {}) } }
        : { request_delete_range: { key: Buffer.from(op.del), ...(op.prefix ? { range_end: prefixEnd(op.del) } : {}) } };
    const compare = compares.map((c) => {
      const base = { key: Buffer.from(c.key), result: RESULT[c.op] };
      switch (c.target) {
        case 'create': return { ...base, target: 'Create' as const, create_revision: c.value };
        case 'mod': return { ...base, target: 'Mod' as const, mod_revision: c.value };
        case 'version': return { ...base, target: 'Version' as const, version: c.value };
        case 'lease': return { ...base, target: 'Lease' as const, lease: c.value };
      }
    });
    const res = await this.call(() =>
      this.etcd.kv.txn({ compare, success: then.map(toOp), failure: otherwise.map(toOp) }),
    );
    return { succeeded: res.succeeded, revision: Number(res.header.revision) };
  }

  /** The cluster's current revision. */
  async revision(): Promise<number> {
    const res = await this.call(() => this.etcd.kv.range({ key: Buffer.from(this.keys.prefix), limit: 1, keys_only: true }));
    return Number(res.header.revision);
  }

  async compact(revision: number): Promise<void> {
    await this.call(() => this.etcd.kv.compact({ revision, physical: true }));
  }

  close(): void {
    this.etcd.close();
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ClusterError) throw err;
      // An open circuit breaker means every host failed recently: to callers that is "etcd unreachable" too.
      if (isBrokenCircuitError(err) || isRecoverableError(err as Error) || /deadline|unavailable|ECONNREFUSED|No connection/i.test(String((err as Error)?.message))) {
        throw new UnavailableError(`etcd is unreachable at ${this.options.endpoints.join(',')}: ${(err as Error).message}`, err);
      }
      throw err;
    }
  }
}
