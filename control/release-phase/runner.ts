/**
 * The release phase (Heroku's `release:` process type): for a pending release this
 * instance created, a one-off `release.N` dyno runs the release command on that
 * release's slug and config; exit 0 makes the release current, anything else fails
 * it and the previous release keeps serving (`settleRelease`).
 *
 * This instance is the dyno's requester (one-off-attach.ts): it gets the output and
 * the exit status first-hand, and closing the socket kills the dyno (the time limit,
 * a shutdown). If this instance dies, the
 * dyno dies with the socket and the next release writer fails the release
 * (releases.ts `failAbandoned`); a restart with the same id fails it at once (`recover`).
 *
 * Output goes to followers live (the pusher's `remote:` lines) and to
 * `release-output/{app}/{v}` about once a second, so any instance serves `releases:output`.
 */
import type { EntryOf } from '../../cluster/client.ts';
import type { Release, ReleaseOutput } from '../../cluster/records.ts';
import type { ControlContext } from '../context.ts';
import { runAttached } from '../one-off-attach.ts';
import { settleRelease, type PhaseOutcome, type ReleasePhaseStarter } from '../releases.ts';

export interface ReleasePhaseOptions {
  memberId: string;
  /** Heroku stops a release command after 1 h. */
  timeoutMs: number;
  /** How often the output so far is written to etcd. */
  flushMs?: number;
}

export const DEFAULT_RELEASE_PHASE_TIMEOUT_MS = 60 * 60_000;
/** The output kept in etcd (`releases:output`): its last this many bytes. */
export const KEPT_OUTPUT_BYTES = 64 * 1024;

type Listener = (chunk: Buffer) => void;

/** One release command run: output, followers, outcome. */
class PhaseRun {
  private chunks: Buffer[] = [];
  private size = 0;
  private cut = 0;
  private readonly listeners = new Set<Listener>();
  private dirty = false;
  readonly abort = new AbortController();
  done!: Promise<PhaseOutcome>;

  constructor(readonly release: Release) {}

  /** Adds output; `live` false keeps it for `releases:output` only (the followers get the reason their own way). */
  write(chunk: Buffer, live = true): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= KEPT_OUTPUT_BYTES) {
      this.size -= this.chunks[0]!.length;
      this.cut += this.chunks.shift()!.length;
    }
    this.dirty = true;
    if (live) for (const l of this.listeners) l(chunk);
  }

  follow(l: Listener): () => void {
    const sofar = Buffer.concat(this.chunks);
    if (sofar.length) l(sofar);
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** The record for etcd, or undefined when nothing changed since the last one. */
  record(finished: boolean, exitCode: number | null): ReleaseOutput | undefined {
    if (!this.dirty && !finished) return undefined;
    this.dirty = false;
    let buf = Buffer.concat(this.chunks);
    let truncated = this.cut;
    if (buf.length > KEPT_OUTPUT_BYTES) {
      truncated += buf.length - KEPT_OUTPUT_BYTES;
      buf = buf.subarray(buf.length - KEPT_OUTPUT_BYTES);
    }
    return { app: this.release.app, version: this.release.version, output: buf.toString('utf8'), truncated, finished, exitCode, updatedAt: Date.now() };
  }
}

const span = (ms: number) => (ms % 3_600_000 === 0 ? `${ms / 3_600_000} h` : ms % 60_000 === 0 ? `${ms / 60_000} min` : `${Math.round(ms / 1000)} s`);

export class ReleasePhaseRunner implements ReleasePhaseStarter {
  private readonly runs = new Map<string, PhaseRun>();
  readonly memberId: string;
  readonly timeoutMs: number;
  private closing = false;

  constructor(private readonly ctx: ControlContext, private readonly opts: ReleasePhaseOptions) {
    this.memberId = opts.memberId;
    this.timeoutMs = opts.timeoutMs;
  }

  start(rel: Release): void {
    const key = `${rel.app}@${rel.version}`;
    const run = new PhaseRun(rel);
    this.runs.set(key, run);
    run.done = this.execute(run).catch(async (err: Error) => {
      this.ctx.log.error({ app: rel.app, release: rel.version, err: err.message }, 'release-phase-error');
      const outcome = { ok: false, error: `Release command could not run: ${err.message}` };
      // Best effort: a release left pending blocks the app's next change until its runner is gone or it overran.
      await settleRelease(this.ctx, rel.app, rel.version, outcome).catch(() => undefined);
      return outcome;
    });
    void run.done.finally(() => this.runs.delete(key));
  }

  /** Live output of a release command running here (everything so far first), and its outcome. */
  follow(app: string, version: number, listener: Listener): Promise<PhaseOutcome> | undefined {
    const run = this.runs.get(`${app}@${version}`);
    if (!run) return undefined;
    const stop = run.follow(listener);
    return run.done.finally(stop);
  }

  /** Fails the pending releases a previous run of this instance left (their dynos died with it). */
  async recover(): Promise<number> {
    const k = this.ctx.cluster.keys;
    const currents = await this.ctx.cluster.list(k.currents());
    let n = 0;
    for (const e of currents.entries as EntryOf<'current'>[]) {
      if (e.kind !== 'current' || e.value.pending === undefined) continue;
      if (this.runs.has(`${e.ref.app}@${e.value.pending}`)) continue;
      const rel = (await this.ctx.cluster.get(k.release(e.ref.app, e.value.pending)))?.value;
      if (rel?.status !== 'pending' || rel.phase?.runner !== this.memberId) continue;
      await settleRelease(this.ctx, e.ref.app, rel.version, { ok: false, error: 'Release command interrupted: the control instance running it restarted' });
      n++;
    }
    return n;
  }

  /** Stops every release command (they fail; the previous releases keep serving). */
  async close(): Promise<void> {
    this.closing = true;
    for (const r of this.runs.values()) r.abort.abort();
    await Promise.all([...this.runs.values()].map((r) => r.done.catch(() => undefined)));
  }

  private async execute(run: PhaseRun): Promise<PhaseOutcome> {
    const rel = run.release;
    const { cluster, log } = this.ctx;
    const command = rel.processTypes.release!;
    const outKey = cluster.keys.releaseOutput(rel.app, rel.version);
    const flush = async (finished: boolean, exitCode: number | null) => {
      const rec = run.record(finished, exitCode);
      if (rec) await cluster.put(outKey, rec).catch((err: Error) => log.warn({ app: rel.app, release: rel.version, err: err.message }, 'release-output-write-failed'));
    };
    const flusher = setInterval(() => void flush(false, null), this.opts.flushMs ?? 1000);
    let outcome: PhaseOutcome;
    try {
      outcome = await this.attachAndWait(run, command);
    } catch (err) {
      outcome = { ok: false, error: `Release command could not start: ${(err as Error).message}` };
    } finally {
      clearInterval(flusher);
    }
    if (!outcome.ok && outcome.error) run.write(Buffer.from(`${outcome.error}\n`), false);
    await flush(true, outcome.exitCode ?? null);
    const settled = await settleRelease(this.ctx, rel.app, rel.version, outcome);
    log.info({ app: rel.app, release: rel.version, ok: outcome.ok, exitCode: outcome.exitCode, dyno: outcome.dyno, status: settled?.status }, 'release-phase-finished');
    // Settled by someone else first (it was called abandoned): that verdict stands.
    if (settled && settled.status !== (outcome.ok ? 'succeeded' : 'failed')) return { ok: settled.status === 'succeeded', ...(settled.phase?.error ? { error: settled.phase.error } : {}) };
    return outcome;
  }

  /** Runs the command in `release.N` attached to this instance; resolves with how it ended. */
  private async attachAndWait(run: PhaseRun, command: string): Promise<PhaseOutcome> {
    const rel = run.release;
    if (this.closing) return { ok: false, error: 'Release command not run: the control plane is shutting down' };
    const o = await runAttached(this.ctx, {
      app: rel.app, release: rel.version, command, type: 'release',
      onOutput: (chunk) => run.write(chunk),
      timeoutMs: this.timeoutMs,
      timeoutMessage: `Release command timed out: it ran longer than the ${span(this.timeoutMs)} limit and was stopped`,
      signal: run.abort.signal,
      abortMessage: 'Release command stopped: the control plane is shutting down',
    });
    if (o.error === undefined) return { ok: true, exitCode: 0, ...(o.dyno ? { dyno: o.dyno } : {}) };
    const error = o.error.startsWith('Release command') ? o.error : `Release command failed (${o.error})`;
    return { ok: false, exitCode: o.exitCode, error, ...(o.dyno ? { dyno: o.dyno } : {}) };
  }
}
