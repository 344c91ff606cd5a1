/**
 * What the agent leaves on disk about each dyno process it started, so a
 * restarted agent can adopt live ones and clean up the rest (never duplicate,
 * never orphan). One JSON file per run, written atomically.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';

export interface RunRecord {
  app: string;
  dyno: string;
  /** Unique per process start: `v<release>-<random>`. */
  run: string;
  release: number;
  restartNonce: number;
  type: string;
  /** Leader pid; also the process group id (spawned with detached:true). */
  pid: number;
  /** /proc start time of the pid, so a recycled pid is not mistaken for the dyno. */
  startTime: number;
  port?: number;
  dir: string;
  logFile: string;
  memoryMb: number;
  cgroup?: { kind: 'v1' | 'v2'; path: string };
  startedAt: number;
  upAt?: number;
  oneOff?: boolean;
  /** An attached one-off: its requester's connection died with the agent, so it is never adopted. */
  attached?: boolean;
  /** Its container id, when isolated (the pid is then the runtime's, which is the container's parent). */
  container?: string;
  /** Mount point of its /app volume (container/volume.ts); `dir` is inside it. */
  volume?: string;
}

export class RunStore {
  constructor(readonly dir: string) {}

  private file(run: string, dyno: string, app: string): string {
    return `${this.dir}/${app}--${dyno}--${run}.json`;
  }

  async save(rec: RunRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const f = this.file(rec.run, rec.dyno, rec.app);
    await writeFile(`${f}.tmp`, JSON.stringify(rec), { mode: 0o600 });
    await rename(`${f}.tmp`, f);
  }

  async remove(rec: Pick<RunRecord, 'app' | 'dyno' | 'run'>): Promise<void> {
    await rm(this.file(rec.run, rec.dyno, rec.app), { force: true });
  }

  /** Every record; unreadable files are returned by name so the caller can log and drop them. */
  async list(): Promise<{ records: RunRecord[]; broken: string[] }> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const records: RunRecord[] = [];
    const broken: string[] = [];
    for (const f of await readdir(this.dir)) {
      if (!f.endsWith('.json')) {
        if (f.endsWith('.tmp')) await rm(`${this.dir}/${f}`, { force: true });
        continue;
      }
      try {
        records.push(JSON.parse(await readFile(`${this.dir}/${f}`, 'utf8')) as RunRecord);
      } catch {
        broken.push(f);
        await rm(`${this.dir}/${f}`, { force: true });
      }
    }
    return { records, broken };
  }
}

/**
 * One-off dynos this node has started, by placement identity (`app/dyno@createRevision`),
 * kept on disk so a restarted agent never runs a one-off twice (a migration that
 * finished while the agent was down must not run again).
 */
export class OneOffLedger {
  private readonly ids = new Set<string>();

  constructor(private readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Files are named app@dyno@revision ('@' appears in no app or dyno name).
    for (const f of readdirSync(dir)) {
      const [app, dyno, rev] = f.split('@');
      if (app && dyno && rev) this.ids.add(`${app}/${dyno}@${rev}`);
    }
  }

  private file(id: string): string {
    return `${this.dir}/${id.replace('/', '@')}`;
  }

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    writeFileSync(this.file(id), '', { mode: 0o600 });
  }

  /** The placement is gone: forget every run of that dyno name. */
  forget(app: string, dyno: string): void {
    for (const id of this.ids) {
      if (id.startsWith(`${app}/${dyno}@`)) {
        this.ids.delete(id);
        rmSync(this.file(id), { force: true });
      }
    }
  }
}
