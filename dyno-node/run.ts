/**
 * One process of a dyno, from slug to exit: unpack into a fresh directory, run
 * `/bin/sh -c <command>` as the app's user, in its own container when the node
 * isolates tenants (container/: the slug as /app, its own network with $PORT
 * published, cgroup limits), else in its own process group and memory cgroup on
 * the host; wait for it to accept on $PORT (R10 otherwise), and report how it
 * ended. A restart is a new Run (fresh filesystem, as on Heroku).
 *
 * States: preparing -> starting -> up -> exited, with stop() from any of them.
 * `onChange` fires on every state change; `done` resolves after cleanup.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, existsSync, openSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm } from 'node:fs/promises';
import { constants } from 'node:os';
import type { HealthCheck, Placement, Slug } from '../cluster/records.ts';
import type { Container, Isolation } from '../container/isolation.ts';
import { Volume } from '../container/volume.ts';
import type { Logger } from '../lib/log.ts';
import { commandArgv, dynoEnv, gatedArgv, ttyArgv } from './environment.ts';
import { DynoCgroup, MemoryGuard, memoryLines, type CgroupBase, type MemoryEvent, type MemoryMode } from './memory.ts';
import { FileTail, type LogSink } from './output.ts';
import { accepts, freePort, holdFreePort, holdPort, type PortHold } from './ports.ts';
import { probe } from './health-check.ts';
import { procStat, sameProcess, signalGroup, waitGroupGone } from './procfs.ts';
import type { RunRecord, RunStore } from './run-store.ts';
import type { SlugCache } from './slugs.ts';
import { pipeToAttachment, type AttachServer, type Attachment } from './attach.ts';
import type { SlugPool } from './slug-pool.ts';
import type { DynoUser, DynoUsers } from './users.ts';

export type RunState = 'preparing' | 'starting' | 'up' | 'exited';

/**
 * Where the process itself is, which `state` (what the slot sees) does not say: not spawned
 * yet (preparing, awaiting-requester), spawned with its gate shut, running, or exiting
 * (its leader exited or the run is finishing; nothing moves it back).
 */
type Phase = 'preparing' | 'awaiting-requester' | 'gated' | 'running' | 'exiting';

/** What `prepare` leaves for the spawn. */
interface Prepared {
  spec: RunSpec;
  user: DynoUser | undefined;
  /** The unpacked slug. */
  dir: string;
}

/** The spawned command, its gate still shut. */
interface Spawned {
  child: ChildProcess;
  pid: number;
  command: string;
  dir: string;
  logFile: string;
  tty: boolean;
  /** The tail of the output file starting, when there is one. */
  tailing?: Promise<void>;
}

export interface RunExit {
  /** Exit status as Heroku prints it (128+n for a signal); null when unknown (adopted process). */
  status: number | null;
  reason: 'exit' | 'R10' | 'R15' | 'health' | 'failed' | 'stopped';
  message: string;
}

/** What a placement resolves to once its release is read and its config unsealed. */
export interface RunSpec {
  command: string;
  config: Record<string, string>;
  slug: Slug | null;
  /** The release's web health check (app.json); absent: up once it accepts TCP on $PORT. */
  healthcheck?: HealthCheck;
}

export interface RunContext {
  log: Logger;
  sink: LogSink;
  dynosDir: string;
  runsDir: string;
  store: RunStore;
  slugs: SlugCache;
  pool: SlugPool;
  users: DynoUsers;
  cgroups: CgroupBase | undefined;
  memoryMode: MemoryMode;
  /** Address routers reach dynos on; the boot check connects there. */
  advertise: string;
  bootTimeoutMs: number;
  stopTimeoutMs: number;
  memoryPollMs: number;
  ports: Set<number>;
  resolve(p: Placement): Promise<RunSpec>;
  /** Where attached one-off dynos meet their requester; undefined when the node serves none. */
  attach: AttachServer | undefined;
  attachTimeoutMs: number;
  /** Runs each dyno in its own container; undefined: on the host (`--isolation off`, or not root). */
  isolation: Isolation | undefined;
  /** Size of each isolated dyno's /app volume; undefined: /app is a plain directory (no loop devices). */
  diskBytes: number | undefined;
}

/** Limits of a dyno's container from its memory quota (standard-1x: 512 MB, 256 processes, 1024 CPU shares). */
export function dynoLimits(memoryMb: number) {
  const quota = memoryMb * 1024 * 1024;
  return {
    memoryBytes: 2 * quota, // R15 at 2x, by the kernel
    pids: Math.max(256, Math.round(memoryMb / 2)),
    cpuShares: Math.max(2, Math.round((1024 * memoryMb) / 512)),
    // /tmp is memory (tmpfs, charged to the dyno's cgroup): bounded by its quota.
    tmpBytes: quota,
  };
}

const isWeb = (p: Pick<Placement, 'type'>) => p.type === 'web';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Run {
  state: RunState = 'preparing';
  exit: RunExit | undefined;
  readonly id: string;
  port: number | undefined;
  pid: number | undefined;
  startedAt = Date.now();
  upAt: number | undefined;
  readonly done: Promise<RunExit>;
  private resolveDone!: (e: RunExit) => void;
  private rec: RunRecord | undefined;
  private tail: FileTail | undefined;
  private guard: MemoryGuard | undefined;
  private cgroup: DynoCgroup | undefined;
  private killReason: 'R10' | 'R15' | 'health' | undefined;
  /** Why a starting web dyno is not up yet (a failing health check), for `ps`. */
  note = '';
  /** The release's health check; `undefined` in an adopted run until read again. */
  private healthcheck: HealthCheck | null | undefined;
  private stopRequested = false;
  private stopping: Promise<void> | undefined;
  private phase: Phase = 'preparing';
  private dir: string | undefined;
  /** The dyno's container, when isolated. */
  private box: Container | undefined;
  /** Its $PORT kept bound on the host while portmap publishes it (isolated web dynos; ports.ts PortHold). */
  private portHold: PortHold | undefined;
  /** The size-limited filesystem its /app lives on, when isolated. */
  private volume: Volume | undefined;
  private attachment: Attachment | undefined;
  /** Writes of the run record, in order; cleanup waits for them so no stale record is left. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly ctx: RunContext,
    readonly placement: Placement,
    private readonly onChange: (run: Run) => void,
    id?: string,
  ) {
    this.id = id ?? `v${placement.release}-${randomBytes(4).toString('hex')}`;
    this.done = new Promise((r) => (this.resolveDone = r));
  }

  get app(): string {
    return this.placement.app;
  }
  get dyno(): string {
    return this.placement.dyno;
  }

  /** Start a new process for a placement. */
  static start(ctx: RunContext, placement: Placement, onChange: (run: Run) => void): Run {
    const run = new Run(ctx, placement, onChange);
    void run.launch().catch((err: Error) => run.failed(err));
    return run;
  }

  /** Take over a process a previous agent run started (it is alive: the caller checked). */
  static async adopt(ctx: RunContext, rec: RunRecord, placement: Placement, onChange: (run: Run) => void): Promise<Run> {
    const run = new Run(ctx, placement, onChange, rec.run);
    run.rec = rec;
    run.pid = rec.pid;
    run.port = rec.port;
    run.dir = rec.dir;
    run.startedAt = rec.startedAt;
    run.phase = 'running';
    if (rec.volume) run.volume = Volume.existing(rec.volume);
    if (rec.container) run.box = ctx.isolation?.existing(rec.container, rec.port ? [{ hostPort: rec.port, containerPort: rec.port }] : []);
    if (rec.port) ctx.ports.add(rec.port);
    if (rec.container && rec.port) await run.holdAdoptedPort(rec.port);
    if (rec.cgroup) run.cgroup = DynoCgroup.open(rec.cgroup.kind, rec.cgroup.path);
    run.tail = new FileTail(rec.logFile, (l) => run.appLine(l));
    await run.tail.start(true).catch(() => (run.tail = undefined));
    await run.watchMemory();
    void run.pollAdopted();
    if (rec.upAt) {
      run.upAt = rec.upAt;
      run.state = 'up';
    } else {
      run.state = 'starting';
      void run.bootCheck();
    }
    return run;
  }

  private heroku(line: string): void {
    this.ctx.sink.write({ app: this.app, dyno: this.dyno, source: 'heroku', ts: Date.now(), line });
  }

  private appLine(line: string): void {
    this.ctx.sink.write({ app: this.app, dyno: this.dyno, source: 'app', ts: Date.now(), line });
  }

  private setState(s: RunState): void {
    if (this.state === s) return;
    this.state = s;
    this.onChange(this);
  }

  /**
   * A new run's way to its first state change, stage by stage: prepare (release, port, user,
   * slug, memory cgroup), await the requester (attached one-offs only), spawn the command
   * behind its gate, then open the gate. A stop between stages ends the run before it starts.
   */
  private async launch(): Promise<void> {
    const prepared = await this.prepare();
    if (this.stopRequested) return this.stoppedBeforeStart();
    if (this.placement.attach && this.placement.command) {
      await this.awaitRequester();
      if (this.stopRequested) return this.stoppedBeforeStart();
    }
    const spawned = await this.spawnGated(prepared);
    await this.recordBehindGate(spawned);
    // On a failure above the gate stays shut: failed() kills the waiting shell.
    this.openGate(spawned);
    await this.started(spawned);
  }

  private get beforeSpawn(): boolean {
    return this.phase === 'preparing' || this.phase === 'awaiting-requester';
  }

  /** The command's process group exists and has not exited. */
  private get spawned(): boolean {
    return this.phase === 'gated' || this.phase === 'running';
  }

  private stoppedBeforeStart(): Promise<void> {
    return this.finish({ status: null, reason: 'stopped', message: 'Stopped before start' });
  }

  /** Moves the run forward; once it is exiting nothing moves it back. */
  private enter(phase: Phase): void {
    if (this.phase !== 'exiting') this.phase = phase;
  }

  /** Release and config, $PORT (web), the app's user, a fresh unpacked slug and, on the host, the memory cgroup. */
  private async prepare(): Promise<Prepared> {
    const { ctx, placement: p } = this;
    const spec = await ctx.resolve(p);
    if (!spec.slug) throw new Error(`release v${p.release} of ${p.app} has no slug to run`);
    this.healthcheck = spec.healthcheck ?? null;
    if (isWeb(p)) {
      // On the host the dyno binds $PORT itself; a container's $PORT is published by DNAT only, so the agent holds it.
      if (ctx.isolation) this.portHold = await holdFreePort(ctx.ports);
      this.port = this.portHold?.port ?? (await freePort(ctx.ports));
      ctx.ports.add(this.port);
    }
    const user = await ctx.users.forApp(p.app);
    const dir = (this.dir = await this.unpack(spec.slug, user));
    if (this.stopRequested) return { spec, user, dir };
    // In a container, the runtime makes the cgroup with its limits from the bundle.
    if (!ctx.isolation && ctx.memoryMode !== 'rss') {
      if (ctx.cgroups) this.cgroup = await DynoCgroup.create(ctx.cgroups, `${p.app}.${p.dyno}.${this.id}`, 2 * p.memoryMb * 1024 * 1024);
      else if (ctx.memoryMode === 'cgroup') throw new Error('memory mode is cgroup but no writable memory cgroup was found on this host');
    }
    return { spec, user, dir };
  }

  /** The previous agent run's hold went with it: take the port again, unless another process got it meanwhile. */
  private async holdAdoptedPort(port: number): Promise<void> {
    try {
      this.portHold = await holdPort(port);
    } catch (err) {
      // Its local clients now reach this dyno instead of it (portmap's DNAT comes first).
      this.ctx.log.warn({ app: this.app, dyno: this.dyno, port, err: (err as Error).message }, 'dyno-port-taken-by-another-process');
    }
  }

  /** The agent leaves this dyno running for the next agent process, which holds its port again (adopt). */
  async handOverPort(): Promise<void> {
    await this.portHold?.release();
    this.portHold = undefined;
  }

  /** An attached one-off waits for its requester; when the requester goes, the dyno stops. */
  private async awaitRequester(): Promise<void> {
    const { ctx, placement: p } = this;
    if (!ctx.attach) throw new Error('this node serves no attach endpoint for one-off dynos');
    this.enter('awaiting-requester');
    this.heroku('Awaiting client');
    const attachment = await ctx.attach.wait(p.app, p.dyno, ctx.attachTimeoutMs);
    this.attachment = attachment;
    attachment.onClose(() => {
      if (this.exit || this.stopRequested) return;
      this.heroku('Client disconnected; stopping the one-off dyno');
      void this.stop();
    });
  }

  /**
   * The command, started with its gate shut (see gatedArgv): in its container or as the app's
   * user in its own process group. Attached one-offs talk to their requester through pipes;
   * everything else writes to a file the agent follows.
   */
  private async spawnGated({ spec, user, dir }: Prepared): Promise<Spawned> {
    const { ctx, placement: p, attachment } = this;
    const logFile = `${ctx.runsDir}/${p.app}--${p.dyno}--${this.id}.log`;
    await mkdir(ctx.runsDir, { recursive: true, mode: 0o700 });
    const fd = attachment ? undefined : openSync(logFile, 'a', 0o600);
    const env = dynoEnv({ config: spec.config, dyno: p.dyno, home: ctx.isolation ? '/app' : dir, port: this.port });
    const hasProfile = existsSync(`${dir}/.profile.d`) || existsSync(`${dir}/.profile`);
    const tty = attachment ? p.tty : undefined;
    if (tty) Object.assign(env, { TERM: tty.term ?? 'xterm-256color', COLUMNS: String(tty.cols), LINES: String(tty.rows) });
    const command = commandArgv(spec.command, hasProfile);
    const argv = gatedArgv(tty ? ttyArgv(command, tty) : command, !!attachment);
    if (ctx.isolation) this.box = await this.container(ctx.isolation, argv, env, user);
    const [file, ...args] = this.box ? this.box.argv : argv;
    let child: ChildProcess;
    try {
      child = spawn(file!, args, {
        cwd: this.box ? this.box.bundle : dir,
        env: this.box ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' } : env,
        detached: true, // own process group: signals reach every process of the dyno (or the runtime that forwards them)
        stdio: fd === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', fd, fd], // stdin opens the gate (see gatedArgv)
        ...(user && !this.box ? { uid: user.uid, gid: user.gid } : {}),
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (child.pid === undefined) {
      const err = await new Promise<Error>((r) => child.once('error', r));
      throw new Error(`cannot start ${argv[0]}: ${err.message}`);
    }
    this.pid = child.pid;
    this.enter('gated');
    child.on('exit', (code, signal) => void this.leaderExited(code, signal));
    child.on('error', (err) => ctx.log.warn({ app: p.app, dyno: p.dyno, err: err.message }, 'dyno-process-error'));
    child.stdin?.on('error', () => undefined);
    return { child, pid: child.pid, command: spec.command, dir, logFile, tty: !!tty };
  }

  /**
   * The gate holds the command while it joins its cgroup and its record reaches disk: an agent
   * killed before that closes the gate's stdin, and the command never runs (nothing orphaned).
   */
  private async recordBehindGate(s: Spawned): Promise<void> {
    const { placement: p } = this;
    if (this.cgroup) appendFileSync(`${this.cgroup.path}/cgroup.procs`, String(s.pid));
    if (this.box) this.cgroup = await this.containerCgroup();
    this.rec = {
      app: p.app, dyno: p.dyno, run: this.id, release: p.release, restartNonce: p.restartNonce, type: p.type,
      pid: s.pid, startTime: (await procStat(s.pid))?.startTime ?? 0, port: this.port, dir: s.dir, logFile: s.logFile,
      memoryMb: p.memoryMb, startedAt: this.startedAt,
      ...(this.cgroup ? { cgroup: { kind: this.cgroup.kind, path: this.cgroup.path } } : {}),
      ...(p.command ? { oneOff: true } : {}),
      ...(this.attachment ? { attached: true } : {}),
      ...(this.box ? { container: this.box.id } : {}),
      ...(this.volume ? { volume: this.volume.mountPoint } : {}),
    };
    this.save();
    await this.saving;
    if (!this.attachment) {
      // Output is followed from now on, so even a command that exits at once has its lines shipped.
      this.tail = new FileTail(s.logFile, (l) => this.appLine(l));
      s.tailing = this.tail.start();
    }
    this.heroku(`Starting process with command \`${s.command}\``);
  }

  private openGate({ child, tty }: Spawned): void {
    const { attachment } = this;
    if (!attachment) return void child.stdin?.end('go\n');
    // The gate's `read` must get its line before any of the requester's input reaches stdin.
    child.stdin?.write('go\n');
    pipeToAttachment(child, attachment);
    if (tty) attachment.onResize((rows, cols) => void this.resizePty(rows, cols));
  }

  /** The command runs: memory is watched, and the run is starting (web: until its boot check) or up. */
  private async started(s: Spawned): Promise<void> {
    const { ctx, placement: p } = this;
    this.enter('running');
    await s.tailing;
    if (this.phase !== 'exiting') await this.watchMemory();
    ctx.log.info({ app: p.app, dyno: p.dyno, run: this.id, pid: s.pid, port: this.port, memory: this.guard?.mode, cgroup: this.cgroup?.path }, 'dyno-started');
    if (this.stopRequested) {
      this.stopping ??= this.terminate();
      return;
    }
    if (this.phase === 'exiting') return;
    this.setState('starting');
    if (isWeb(p)) void this.bootCheck();
    else this.markUp();
  }

  /**
   * The slug, fresh per run, in a root-owned parent no tenant process can reach (dyno users pass
   * through it when they run on the host; containers see only their own /app). Isolated, it goes
   * inside the run's volume, so the slug and what the dyno writes share one bound.
   */
  private async unpack(slug: Slug, user: DynoUser | undefined): Promise<string> {
    const { ctx } = this;
    const slugFile = await ctx.slugs.get(slug);
    const appDir = `${ctx.dynosDir}/${this.app}`;
    await mkdir(appDir, { recursive: true, mode: 0o711 });
    await chown(appDir, process.getuid?.() ?? 0, process.getgid?.() ?? 0).catch(() => undefined);
    await chmod(appDir, ctx.isolation ? 0o700 : 0o711);
    const runDir = `${appDir}/${this.dyno}.${this.id}`;
    if (ctx.isolation && ctx.diskBytes) this.volume = await Volume.create(runDir, ctx.diskBytes);
    const dir = this.volume ? `${runDir}/app` : runDir;
    await ctx.pool.unpack(slugFile, dir, user ? { uid: user.uid, gid: user.gid } : undefined);
    return dir;
  }

  /** The dyno's container: the gated command as its app user, /app, $PORT published, limits by size. */
  private container(iso: Isolation, argv: string[], env: Record<string, string>, user: DynoUser | undefined): Promise<Container> {
    if (!user) throw new Error('an isolated dyno needs its app user (the agent must run as root)');
    if (!this.ctx.cgroups) throw new Error('an isolated dyno needs a cgroup hierarchy the agent can use');
    return iso.prepare({
      id: this.containerId, args: argv, env, cwd: '/app', user, hostname: this.dyno,
      writable: [{ source: this.dir!, destination: '/app' }],
      ports: this.port ? [{ hostPort: this.port, containerPort: this.port }] : [],
      cgroupsPath: `${this.ctx.cgroups.path}/${this.containerId}`, limits: dynoLimits(this.placement.memoryMb),
    });
  }

  /** Names the container, its namespace and its cgroup: unique per run, readable in `runc list`. */
  private get containerId(): string {
    return `${this.app}.${this.dyno}.${this.id}`;
  }

  /** The cgroup the runtime made for the container (it exists once the runtime has created it). */
  private async containerCgroup(): Promise<DynoCgroup | undefined> {
    const base = this.ctx.cgroups!;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && this.phase !== 'exiting') {
      const cg = DynoCgroup.open(base.kind, `${base.dir}/${this.containerId}`);
      if (cg) return cg;
      await sleep(20);
    }
    return undefined;
  }

  private save(): void {
    const rec = { ...this.rec! };
    this.saving = this.saving.then(() => (this.exit ? undefined : this.ctx.store.save(rec))).catch((err: Error) => {
      this.ctx.log.error({ app: this.app, dyno: this.dyno, err: err.message }, 'run-record-save-failed');
    });
  }

  private async watchMemory(): Promise<void> {
    if (!this.pid) return;
    const quota = this.placement.memoryMb * 1024 * 1024;
    const pgid = this.pid;
    this.guard = new MemoryGuard(
      quota,
      this.cgroup ? { cgroup: this.cgroup } : { pgid },
      (e) => this.memoryEvent(e),
      () => {
        this.killReason ??= 'R15';
        signalGroup(pgid, 'SIGKILL');
      },
      this.ctx.memoryPollMs,
    );
    await this.guard.start();
  }

  private memoryEvent(e: MemoryEvent): void {
    for (const line of memoryLines(e)) this.heroku(line);
    this.ctx.log.warn({ app: this.app, dyno: this.dyno, code: e.kind, used: e.usedBytes, quota: e.quotaBytes, mode: this.guard?.mode, ...(e.kind === 'R15' ? { killedBy: e.by } : {}) }, 'dyno-memory-over-quota');
  }

  private markUp(): void {
    this.upAt = Date.now();
    if (this.rec) {
      this.rec.upAt = this.upAt;
      this.save();
    }
    this.setState('up');
  }

  /**
   * A web dyno is up once it accepts TCP on $PORT (R10 when it does not within the boot
   * timeout) and, when its release has one, passes its HTTP health check.
   */
  private async bootCheck(): Promise<void> {
    const deadline = this.startedAt + this.ctx.bootTimeoutMs;
    const going = () => this.state === 'starting' && !this.stopRequested && this.phase !== 'exiting';
    while (going()) {
      if (await accepts(this.ctx.advertise, this.port!, 500)) {
        // An adopted run (agent restart) reads its release's check again.
        const hc = this.healthcheck !== undefined ? this.healthcheck : (await this.ctx.resolve(this.placement).catch(() => undefined))?.healthcheck;
        if (hc && !(await this.healthChecks(hc))) return;
        if (going()) this.markUp();
        return;
      }
      if (Date.now() >= deadline) {
        this.killReason = 'R10';
        const s = Math.round(this.ctx.bootTimeoutMs / 1000);
        this.heroku(`Error R10 (Boot timeout) -> Web process failed to bind to $PORT within ${s} seconds of launch`);
        this.heroku('Stopping process with SIGKILL');
        signalGroup(this.pid!, 'SIGKILL');
        return;
      }
      await sleep(100);
    }
  }

  /** Up to `attempts` HTTP checks; true once one passes. After the last failure the dyno is stopped (it crashed, and restarts with backoff). */
  private async healthChecks(hc: HealthCheck): Promise<boolean> {
    const going = () => this.state === 'starting' && !this.stopRequested && this.phase !== 'exiting';
    if (hc.waitMs) await sleep(hc.waitMs);
    let last = '';
    for (let attempt = 1; attempt <= hc.attempts && going(); attempt++) {
      const r = await probe(this.ctx.advertise, this.port!, hc);
      if (r.ok) {
        this.heroku(`Health check passed: ${r.what}`);
        this.note = '';
        return true;
      }
      last = r.what;
      this.heroku(`Health check failed: ${r.what} (attempt ${attempt} of ${hc.attempts})`);
      this.note = `health check failing: ${r.what}`;
      this.onChange(this);
      if (attempt < hc.attempts) await sleep(hc.intervalMs);
    }
    if (!going()) return false;
    this.killReason = 'health';
    this.heroku(`Health check failed ${hc.attempts} times (${last}); stopping process with SIGKILL. The previous release keeps serving.`);
    signalGroup(this.pid!, 'SIGKILL');
    if (this.box) await this.box.kill('SIGKILL').catch(() => undefined);
    return false;
  }

  /**
   * A tty run's new window size: set on the pty (`stty -F` on the command's stdin, found
   * as the child of `script`), which sends SIGWINCH to the foreground job. On the host
   * only; in a container the size stays what it was at start.
   */
  private async resizePty(rows: number, cols: number): Promise<void> {
    if (this.box || !this.pid) return;
    try {
      const children = (await readFile(`/proc/${this.pid}/task/${this.pid}/children`, 'utf8')).trim().split(/\s+/).filter(Boolean);
      if (!children[0]) return;
      await new Promise<void>((resolve) => {
        const c = spawn('stty', ['-F', `/proc/${children[0]}/fd/0`, 'rows', String(rows), 'cols', String(cols)], { stdio: 'ignore' });
        c.on('exit', () => resolve());
        c.on('error', () => resolve());
      });
    } catch {
      /* gone meanwhile */
    }
  }

  /** Adopted processes are not our children: notice their exit by polling. */
  private async pollAdopted(): Promise<void> {
    while (this.phase !== 'exiting') {
      if (!(await sameProcess(this.rec!.pid, this.rec!.startTime))) return this.leaderExited(null, null);
      await sleep(250);
    }
  }

  /** Signal the dyno's process group and, with a cgroup, anything in it that left the group. */
  private async signalAll(signal: NodeJS.Signals): Promise<void> {
    if (this.box) await this.box.kill(signal);
    signalGroup(this.pid!, signal);
    for (const pid of (await this.cgroup?.pids()) ?? []) {
      try {
        process.kill(pid, signal);
      } catch {
        /* gone meanwhile */
      }
    }
  }

  private async allGone(ms: number): Promise<boolean> {
    if (!(await waitGroupGone(this.pid!, ms))) return false;
    const deadline = Date.now() + ms;
    while (this.cgroup && (await this.cgroup.pids()).length > 0) {
      if (Date.now() > deadline) return false;
      await sleep(50);
    }
    return true;
  }

  /** Stop: SIGTERM to the group, SIGKILL after the stop timeout. Resolves after cleanup. */
  stop(): Promise<RunExit> {
    if (this.exit || this.stopRequested) return this.done;
    this.stopRequested = true;
    if (this.spawned) this.stopping ??= this.terminate();
    else if (this.placement.attach && this.beforeSpawn) this.ctx.attach?.cancel(this.app, this.dyno);
    return this.done;
  }

  private async terminate(): Promise<void> {
    const pgid = this.pid!;
    this.heroku('Stopping all processes with SIGTERM');
    this.ctx.log.info({ app: this.app, dyno: this.dyno, run: this.id, pgid }, 'dyno-sigterm');
    await this.signalAll('SIGTERM');
    if (await this.allGone(this.ctx.stopTimeoutMs)) return;
    const s = Math.round(this.ctx.stopTimeoutMs / 1000);
    this.heroku(`Error R12 (Exit timeout) -> At least one process failed to exit within ${s} seconds of SIGTERM`);
    this.heroku('Stopping remaining processes with SIGKILL');
    this.ctx.log.warn({ app: this.app, dyno: this.dyno, run: this.id, pgid }, 'dyno-sigkill');
    await this.signalAll('SIGKILL');
    await this.allGone(5000);
  }

  private async leaderExited(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.phase === 'exiting') return;
    this.phase = 'exiting';
    if (this.stopping) await this.stopping;
    else {
      // A dyno ends as a whole: what its leader left behind goes too.
      await this.signalAll('SIGKILL');
      await this.allGone(5000);
    }
    const signum = signal ? constants.signals[signal] : undefined;
    const status = code ?? (signum !== undefined ? 128 + signum : null);
    let reason: RunExit['reason'] = this.stopRequested ? 'stopped' : this.killReason ?? 'exit';
    if (reason === 'exit' && (await this.guard?.kernelKilled())) {
      reason = 'R15';
      this.heroku('Error R15 (Memory quota vastly exceeded)');
      this.ctx.log.warn({ app: this.app, dyno: this.dyno, code: 'R15', mode: 'cgroup', killedBy: 'kernel' }, 'dyno-memory-over-quota');
    }
    const exited = status === null ? 'Process exited (status unknown: started by a previous agent run)' : `Process exited with status ${status}`;
    this.heroku(exited);
    const message = reason === 'health' ? `health check failed: ${this.note.replace(/^health check failing: /, '')}` : exited;
    await this.finish({ status, reason, message });
  }

  private async failed(err: Error): Promise<void> {
    if (this.stopRequested && this.beforeSpawn) return this.stoppedBeforeStart();
    this.ctx.log.error({ app: this.app, dyno: this.dyno, run: this.id, err: err.message }, 'dyno-start-failed');
    this.heroku(`Failed to start: ${err.message}`);
    if (this.spawned) {
      signalGroup(this.pid!, 'SIGKILL');
      return; // the leader's exit finishes the run
    }
    await this.finish({ status: null, reason: 'failed', message: `Failed to start: ${err.message}` });
  }

  private async finish(exit: RunExit): Promise<void> {
    if (this.exit) return;
    this.exit = exit;
    this.phase = 'exiting';
    this.attachment?.exit(exit.status, exit.message);
    this.guard?.stop();
    // Tell the slot first: the endpoint goes before any slow cleanup.
    this.setState('exited');
    await this.tail?.stop().catch(() => undefined);
    await this.box?.destroy().catch((err: Error) => this.ctx.log.warn({ app: this.app, dyno: this.dyno, err: err.message }, 'container-destroy-failed'));
    await this.cgroup?.remove().catch(() => undefined);
    if (this.dir) await rm(this.dir, { recursive: true, force: true }).catch(() => undefined);
    await this.volume?.destroy().catch((err: Error) => this.ctx.log.warn({ app: this.app, dyno: this.dyno, err: err.message }, 'volume-destroy-failed'));
    if (this.rec) {
      await this.saving;
      await this.ctx.store.remove(this.rec).catch(() => undefined);
      await rm(this.rec.logFile, { force: true }).catch(() => undefined);
    }
    // after the container's portmap rules went with it
    await this.portHold?.release();
    if (this.port) this.ctx.ports.delete(this.port);
    this.resolveDone(exit);
  }
}
