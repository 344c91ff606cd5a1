/**
 * A throwaway rsyslogd for drain tests: its own config, pid file and work dir
 * under a temp directory, listening with imtcp on a loopback port, writing every
 * message to a file as `HOSTNAME APP-NAME PROCID MSG`. Never the system one.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../../lib/ports.ts';

export const RSYSLOGD = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));
export const RSYSLOG_MISSING = 'rsyslogd is not installed; `apt-get install -y rsyslog` (the test starts its own on loopback)';

export class Rsyslog {
  private proc: ChildProcess | undefined;
  readonly dir = mkdtempSync(join(tmpdir(), 'dynomesh-rsyslog-'));
  readonly out = join(this.dir, 'messages.log');
  port = 0;
  stderr = '';

  async start(): Promise<void> {
    if (!RSYSLOGD) throw new Error(RSYSLOG_MISSING);
    this.port = await freePort();
    const conf = join(this.dir, 'rsyslog.conf');
    writeFileSync(conf, [
      `global(workDirectory="${this.dir}" maxMessageSize="64k")`,
      'module(load="imtcp")',
      `template(name="line" type="string" string="%HOSTNAME% %APP-NAME% %PROCID% %msg%\\n")`,
      'ruleset(name="drain") {',
      `  action(type="omfile" file="${this.out}" template="line" flushOnTXEnd="on" asyncWriting="off")`,
      '}',
      `input(type="imtcp" address="127.0.0.1" port="${this.port}" ruleset="drain")`,
      '',
    ].join('\n'));
    const check = spawnSync(RSYSLOGD, ['-N1', '-f', conf], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`rsyslog config check failed: ${check.stderr || check.stdout}`);
    this.proc = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc.stderr!.on('data', (c: Buffer) => (this.stderr += c.toString()));
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (this.proc.exitCode !== null || Date.now() > deadline) throw new Error(`rsyslogd did not start: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  lines(): string[] {
    return existsSync(this.out) ? readFileSync(this.out, 'utf8').split('\n').filter(Boolean) : [];
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (p && p.exitCode === null) {
      p.kill('SIGTERM');
      await new Promise((r) => p.once('exit', r));
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
