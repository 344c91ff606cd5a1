/**
 * One daemon `dynomesh up` runs: `node bin/dynomesh.js <daemon> ...` in its own
 * process group (so the terminal's Ctrl-C reaches only `up`, which then stops
 * the daemons in order), its output split into lines for the console and
 * appended raw to `<home>/logs/<name>.log`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

import { BIN } from '../../lib/package.ts';

export { BIN };

export interface ChildOptions {
  name: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logFile: string;
  onLine: (name: string, line: string) => void;
  onExit: (name: string, code: number | null, signal: NodeJS.Signals | null) => void;
}

export class Child {
  private proc: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();
  stopping = false;
  /** The last line the daemon printed: usually why it stopped. */
  lastLine = '';

  constructor(readonly opts: ChildOptions) {}

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  start(): void {
    const o = this.opts;
    this.log = createWriteStream(o.logFile, { flags: 'a', mode: 0o600 });
    const proc = spawn(process.execPath, [BIN, ...o.args], {
      env: { ...o.env, DYNOMESH_SUPERVISOR_PID: String(process.pid) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    this.proc = proc;
    for (const stream of [proc.stdout!, proc.stderr!]) {
      stream.pipe(this.log, { end: false });
      createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        if (line.trim()) this.lastLine = line;
        o.onLine(o.name, line);
      });
    }
    this.exited = new Promise((resolve) => {
      proc.once('exit', (code, signal) => {
        // Let the last output lines through before reporting the exit.
        setImmediate(() => {
          this.log?.end();
          if (!this.stopping) o.onExit(o.name, code, signal);
          resolve();
        });
      });
    });
  }

  /** SIGTERM (the daemons drain and exit 0), then SIGKILL after `graceMs`. */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    const proc = this.proc;
    if (!proc || !this.running) return this.exited;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => this.kill(), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.stopping = true;
    const pid = this.proc?.pid;
    if (pid && this.running) {
      try {
        process.kill(-pid, 'SIGKILL'); // the whole group: etcd under `dynomesh etcd`, dynos of a stuck node
      } catch {
        this.proc?.kill('SIGKILL');
      }
    }
  }
}
