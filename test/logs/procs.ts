/** Real dynomesh daemons as child processes (`bin/dynomesh.js <daemon>`), their output kept for failures. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BIN = join(ROOT, 'bin/dynomesh.js');

/** The measurement scripts' flags: `--<name> N`, else `d`. */
export function numberArg(name: string, d: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : d;
}

/** The bootstrap admin token the measurement scripts start their controls with. */
export const MEASURE_TOKEN = 'dm_measure-token-0123456789abcdef0123';

export class Daemon {
  readonly proc: ChildProcess;
  output = '';

  constructor(readonly name: string, args: string[], env: NodeJS.ProcessEnv) {
    this.proc = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (c: Buffer) => {
      this.output += c.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    this.proc.stdout!.on('data', keep);
    this.proc.stderr!.on('data', keep);
  }

  get alive(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** SIGTERM (or the given signal), SIGKILL after `ms`; resolves when it has exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 10_000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill(signal);
    const t = setTimeout(() => this.proc.kill('SIGKILL'), ms);
    await exited;
    clearTimeout(t);
  }

  tail(n = 3000): string {
    return `--- ${this.name} ---\n${this.output.slice(-n)}`;
  }
}
