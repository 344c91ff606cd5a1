/**
 * One dyno name on this node (`web.1` of an app) and the processes behind it.
 * The slot converges what runs toward the desired placement:
 *
 *   - nothing running          -> start a run
 *   - run of an old release    -> start the new one beside it; once it is up and
 *     (or old restartNonce)       its endpoint is published, stop the old one
 *   - run exited (crash)       -> endpoint removed at once, status crashed,
 *                                 restart per the crash policy
 *   - placement removed        -> endpoint removed, drain, SIGTERM, SIGKILL
 *
 * `reconcile()` is synchronous and idempotent; every event (placement change,
 * run state change, cool-off timer) just calls `kick()`.
 */
import type { Keyspace } from '../cluster/keys.ts';
import type { DynoState, DynoStatus, Placement } from '../cluster/records.ts';
import type { Logger } from '../lib/log.ts';
import { CrashPolicy } from './backoff.ts';
import type { LogSink } from './output.ts';
import type { Publisher } from './publisher.ts';
import type { Run } from './run.ts';

export interface SlotContext {
  nodeId: string;
  advertise: string;
  keys: Keyspace;
  log: Logger;
  sink: LogSink;
  publisher: Publisher;
  drainMs: number;
  /** Daily cycling, as Heroku: a run is replaced after cycleMs + random(0..cycleJitterMs); 0 turns it off. */
  cycleMs: number;
  cycleJitterMs: number;
  newPolicy(): CrashPolicy;
  startRun(p: Placement, onChange: (r: Run) => void): Run;
  /** One-off dynos already started here, so none runs twice (survives agent restarts). */
  oneOffs: { has(id: string): boolean; add(id: string): void; forget(app: string, dyno: string): void };
  /** The slot has no placement and nothing running: forget it. */
  idle(slot: Slot): void;
}

const matches = (r: Run, p: Placement) =>
  r.placement.release === p.release && r.placement.restartNonce === p.restartNonce && r.placement.command === p.command;

const fmtDelay = (ms: number) => (ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`);

export class Slot {
  desired: Placement | undefined;
  current: Run | undefined;
  pending: Run | undefined;
  readonly retiring = new Set<Run>();
  readonly policy: CrashPolicy;
  restarts = 0;
  private timer: NodeJS.Timeout | undefined;
  private restartAt: number | null = null;
  /** A one-off dyno that ended: never restarted. */
  private finished = false;
  private kicked = false;
  /** Set by stopAll (agent shutdown), as opposed to the placement going away. */
  private leaving = false;
  private shown: { state: DynoState; since: number; release: number; run?: string } | undefined;
  private lastExit: { status: number | null; message: string } | undefined;
  /** Identity of the desired placement (its etcd create revision): one-offs run once per identity. */
  private desiredId: string | undefined;
  /** The run due for its daily cycle: treated as stale, so it is replaced like on a restart. */
  private cycling: Run | undefined;
  private cycleTimer: NodeJS.Timeout | undefined;
  private cycleFor: Run | undefined;
  /** The last endpoint write: a replaced run's SIGTERM waits for its successor's endpoint. */
  private endpointWrite: Promise<void> = Promise.resolve();
  /** The run whose endpoint is published. */
  private endpointRun: Run | undefined;

  constructor(readonly app: string, readonly dyno: string, private readonly ctx: SlotContext) {
    this.policy = ctx.newPolicy();
  }

  get oneOff(): boolean {
    return !!this.desired?.command || this.dyno.startsWith('run.');
  }

  /** `kick: false` holds convergence (the agent adopts leftovers first, then kicks). */
  setDesired(p: Placement | undefined, kick = true, createRevision = 0): void {
    const before = this.desired;
    this.desired = p;
    this.desiredId = p ? `${this.app}/${this.dyno}@${createRevision}` : undefined;
    if (p && (!before || before.release !== p.release || before.restartNonce !== p.restartNonce)) {
      // A release or `ps:restart` resets the cool-off, as on Heroku.
      this.policy.reset();
      this.cancelTimer();
      if (before) this.finished = false;
    }
    if (kick) this.kick();
  }

  /** Take over a live process from a previous agent run. */
  adopt(run: Run): void {
    if (!this.current) this.current = run;
    else if (!this.pending) this.pending = run;
    else this.retire(run);
  }

  /** A one-off that cannot go on (its requester is gone): never (re)started for this placement. */
  finish(message: string): void {
    this.finished = true;
    this.lastExit = { status: null, message };
    this.kick();
  }

  kick(): void {
    if (this.kicked) return;
    this.kicked = true;
    queueMicrotask(() => {
      this.kicked = false;
      try {
        this.reconcile();
      } catch (err) {
        this.ctx.log.error({ app: this.app, dyno: this.dyno, err }, 'slot-reconcile-failed');
      }
    });
  }

  private heroku(line: string): void {
    this.ctx.sink.write({ app: this.app, dyno: this.dyno, source: 'heroku', ts: Date.now(), line });
  }

  private launch(p: Placement): Run {
    return this.ctx.startRun(p, () => this.kick());
  }

  reconcile(): void {
    for (const r of [this.current, this.pending]) if (r?.state === 'exited') this.exited(r);
    const want = this.desired;
    if (!want || this.finished) {
      for (const r of [this.current, this.pending]) if (r) this.retire(r);
      this.current = this.pending = undefined;
      this.cancelTimer();
      if (!want && this.retiring.size === 0) {
        void this.ctx.publisher.remove(this.ctx.keys.status(this.ctx.nodeId, this.app, this.dyno));
        // Only a removed placement forgets its one-offs; an agent shutting down keeps them.
        if (!this.leaving) this.ctx.oneOffs.forget(this.app, this.dyno);
        this.ctx.idle(this);
        return;
      }
      this.publish();
      return;
    }
    if (this.timer) return this.publish(); // cooling off after a crash
    if (!this.current && this.pending) [this.current, this.pending] = [this.pending, undefined];
    if (!this.current && this.oneOff) {
      if (this.ctx.oneOffs.has(this.desiredId!)) {
        // Started before (maybe by a previous agent process) and over: never again.
        this.finished = true;
        this.lastExit ??= { status: null, message: 'Process exited' };
        return this.publish();
      }
      this.ctx.oneOffs.add(this.desiredId!);
      this.current = this.launch(want);
    } else if (!this.current) {
      this.current = this.launch(want);
    } else if (matches(this.current, want) && this.current !== this.cycling) {
      if (this.pending) this.retire(this.pending);
      this.pending = undefined;
    } else if (this.current.state !== 'up') {
      // Nothing is served by a run that is not up: replace it outright.
      this.retire(this.current);
      this.current = this.launch(want);
    } else {
      if (this.pending && (!matches(this.pending, want) || this.pending === this.cycling)) {
        this.retire(this.pending);
        this.pending = undefined;
      }
      if (!this.pending) {
        this.pending = this.launch(want);
        this.ctx.log.info({ app: this.app, dyno: this.dyno, from: this.current.placement.release, to: want.release }, 'dyno-replacing');
      } else if (this.pending.state === 'up') {
        const old = this.current;
        this.current = this.pending;
        this.pending = undefined;
        this.publish(); // the new endpoint first...
        this.retire(old); // ...then the old run gets its SIGTERM
      }
    }
    this.publish();
  }

  /** A run ended on its own (not retired by us): a crash, R10, R15, or a one-off finishing. */
  private exited(r: Run): void {
    const exit = r.exit!;
    const wasPending = r === this.pending && this.current !== undefined && this.current.state !== 'exited';
    this.lastExit = { status: exit.status, message: exit.message };
    if (r === this.endpointRun) this.dropEndpoint();
    if (r === this.pending) this.pending = undefined;
    if (r === this.current) this.current = undefined;
    // One-off dynos are never restarted, however they ended.
    if (this.oneOff) {
      this.finished = true;
      return;
    }
    if (exit.reason === 'stopped') return;
    const delay = this.policy.crashed(r.startedAt);
    this.restarts++;
    if (delay > 0) {
      this.cancelTimer();
      this.restartAt = Date.now() + delay;
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.restartAt = null;
        this.kick();
      }, delay);
      this.timer.unref();
      this.heroku(`Crashed ${this.policy.crashes} times in a row; restarting in ${fmtDelay(delay)}`);
    }
    this.ctx.log.warn({ app: this.app, dyno: this.dyno, status: exit.status, reason: exit.reason, crashes: this.policy.crashes, restartInMs: delay }, 'dyno-crashed');
    if (wasPending) {
      // The replacement failed; the old release keeps serving meanwhile.
      this.heroku(`Release v${r.placement.release} failed to start; v${this.current!.placement.release} keeps running`);
    } else {
      this.setShown('crashed', r.placement.release);
    }
  }

  private cancelTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.restartAt = null;
  }

  private retire(r: Run): void {
    if (this.retiring.has(r)) return;
    this.retiring.add(r);
    const wasServing = r === this.endpointRun;
    if (wasServing) this.dropEndpoint();
    void (async () => {
      await this.endpointWrite;
      // Routers stop sending once they see the endpoint gone; give them that long.
      if (wasServing || r.state === 'up') await new Promise((res) => setTimeout(res, this.ctx.drainMs));
      await r.stop();
      this.retiring.delete(r);
      this.kick();
    })();
  }

  private dropEndpoint(): void {
    this.endpointRun = undefined;
    void this.ctx.publisher.remove(this.ctx.keys.endpoint(this.ctx.nodeId, this.app, this.dyno));
  }

  private setShown(state: DynoState, release: number, run?: string): void {
    if (this.shown?.state !== state) {
      if (this.shown) this.heroku(`State changed from ${this.shown.state} to ${state}`);
      this.shown = { state, since: Date.now(), release, run };
    } else if (run && this.shown.run !== run) {
      // A restart or release change replaced the process without leaving `up`: `ps` shows the new one's age.
      this.shown = { state, since: Date.now(), release, run };
    }
    this.shown.release = release;
    const value: DynoStatus = {
      app: this.app, dyno: this.dyno, node: this.ctx.nodeId, release, state, since: this.shown.since,
      restarts: this.restarts, exitCode: state === 'up' || state === 'starting' ? null : this.lastExit?.status ?? null,
      message: this.message(state), nextRestartAt: state === 'crashed' ? this.restartAt : null,
    };
    void this.ctx.publisher.status(this.ctx.keys.status(this.ctx.nodeId, this.app, this.dyno), value);
  }

  private message(state: DynoState): string {
    if (state === 'crashed') {
      const next = this.restartAt ? `restarting in ${fmtDelay(this.restartAt - Date.now())}` : 'restarting now';
      return `${this.lastExit?.message ?? 'crashed'}; crashed ${this.policy.crashes} times in a row, ${next}`;
    }
    if (state === 'down') return this.lastExit?.message ?? 'stopped';
    if (state === 'starting') return this.current?.note ?? '';
    return '';
  }

  /** Status and endpoint from the current run. */
  private publish(): void {
    const r = this.current;
    if (!r) {
      const release = this.desired?.release ?? this.shown?.release ?? 0;
      if (this.finished || !this.desired) this.setShown('down', release);
      else if (this.timer) this.setShown('crashed', release);
      return;
    }
    const state: DynoState = r.state === 'up' ? 'up' : 'starting';
    if (state === 'up') this.scheduleCycle(r);
    if (state === 'up' && r.placement.type === 'web' && this.endpointRun !== r && r.port) {
      this.endpointRun = r;
      this.endpointWrite = this.ctx.publisher.endpoint(this.ctx.keys.endpoint(this.ctx.nodeId, this.app, this.dyno), {
        app: this.app, dyno: this.dyno, node: this.ctx.nodeId, host: this.ctx.advertise, port: r.port, release: r.placement.release,
      });
    }
    this.setShown(state, r.placement.release, r.id);
  }

  private scheduleCycle(r: Run): void {
    if (this.cycleFor === r || this.ctx.cycleMs <= 0 || this.oneOff) return;
    clearTimeout(this.cycleTimer);
    this.cycleFor = r;
    const upFor = Date.now() - (r.upAt ?? Date.now());
    const delay = Math.max(0, this.ctx.cycleMs + Math.random() * this.ctx.cycleJitterMs - upFor);
    this.cycleTimer = setTimeout(() => {
      if (this.current !== r || r.state !== 'up') return;
      this.heroku('Cycling');
      this.cycling = r;
      this.kick();
    }, delay);
    this.cycleTimer.unref();
  }

  /** Stop everything (agent shutdown). */
  async stopAll(): Promise<void> {
    this.leaving = true;
    clearTimeout(this.cycleTimer);
    this.desired = undefined;
    this.reconcile();
    while (this.retiring.size > 0) await Promise.all([...this.retiring].map((r) => r.done));
  }
}
