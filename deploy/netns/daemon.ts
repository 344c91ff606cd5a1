/**
 * One daemon process inside a host's namespace (`ip netns exec` execs, so the
 * pid we hold is the daemon's own). Output goes to `<dir>/<name>.log`; the same
 * arguments start it again after a kill, as systemd's Restart= would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { nsName } from './net.ts';

export interface DaemonSpec {
  name: string;
  run: string;
  host: string;
  /** argv: the program and its arguments, run inside the host's namespace. */
  argv: string[];
  env: NodeJS.ProcessEnv;
  logDir: string;
}

export class Daemon {
  private child: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();
  /** Everything printed since the last start (tests look for lines such as the admin token). */
  output = '';

  constructor(readonly spec: DaemonSpec) {}

  get name(): string {
    return this.spec.name;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): void {
    if (this.running) return;
    this.output = '';
    this.log ??= createWriteStream(join(this.spec.logDir, `${this.spec.name}.log`), { flags: 'a' });
    // nsenter switches only the network namespace; `ip netns exec` also remounts /sys, which hides the
    // cgroup hierarchies a dyno-node needs for its containers.
    const child = spawn('nsenter', [`--net=/run/netns/${nsName(this.spec.run, this.spec.host)}`, '--', ...this.spec.argv], {
      env: this.spec.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const onData = (b: Buffer) => {
      if (this.output.length < 1_000_000) this.output += b.toString();
      this.log?.write(b);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    this.exited = new Promise((r) => child.once('exit', () => r()));
    this.child = child;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (this.running) this.child!.kill(signal);
    return this.exited;
  }

  /** SIGTERM, then SIGKILL after `graceMs`. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const timer = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  closeLog(): void {
    this.log?.end();
    this.log = undefined;
  }
}
