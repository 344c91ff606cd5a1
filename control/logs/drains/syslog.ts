/**
 * A syslog drain over TCP (`syslog://host:port`) or TLS (`syslog+tls://`):
 * one persistent connection, RFC 5424 messages in octet-counted frames,
 * written while the socket takes them (backpressure pauses, `drain` resumes).
 * Syslog over TCP has no acks: what sat in the kernel buffer when the
 * connection died is lost, as with any syslog sender.
 */
import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Egress } from '../../../lib/egress.ts';
import { DrainOutput } from './output.ts';
import { octetFrame, syslogMessage } from './rfc5424.ts';

const WRITE_MAX = 500;

export class SyslogDrain extends DrainOutput {
  private socket: Socket | undefined;
  private connecting: Promise<Socket> | undefined;
  /** The tenant's destination is checked at connect time (lib/egress.ts). */
  egress: Egress | undefined;

  protected async deliver(): Promise<number> {
    const s = await this.connection();
    if (s.writableNeedDrain) return 0;
    const n = Math.min(WRITE_MAX, this.backlog.length);
    if (n === 0) return 0;
    let out = '';
    for (let i = 0; i < n; i++) out += octetFrame(syslogMessage(this.backlog[i]!, this.drain.token));
    this.backlog.splice(0, n);
    s.write(out);
    return n;
  }

  private connection(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return (this.connecting ??= new Promise<Socket>((resolve, reject) => {
      const u = new URL(this.drain.url);
      const port = Number(u.port || (u.protocol === 'syslog+tls:' ? 6514 : 514));
      const host = u.hostname.replace(/^\[|\]$/g, '');
      let to: { host: string; port: number };
      try {
        to = this.egress ? this.egress.connectOptions(host, port, 'drain') : { host, port };
      } catch (err) {
        this.connecting = undefined;
        return reject(err as Error);
      }
      const s = u.protocol === 'syslog+tls:' ? tlsConnect({ ...to, servername: host }) : tcpConnect(to);
      const ready = u.protocol === 'syslog+tls:' ? 'secureConnect' : 'connect';
      s.setKeepAlive(true, 10_000);
      const fail = (err: Error) => {
        this.connecting = undefined;
        reject(err.name === 'EgressRefused' ? Object.assign(new Error(`drain refused: ${err.message}`), { name: err.name }) : new Error(`cannot connect to ${host}:${port}: ${err.message}`));
      };
      s.once('error', fail);
      s.once(ready, () => {
        s.off('error', fail);
        this.connecting = undefined;
        this.socket = s;
        this.log.info({ drain: this.drain.id, app: this.drain.app, host, port }, 'drain-connected');
        s.on('error', (err) => this.log.warn({ drain: this.drain.id, err: err.message }, 'drain-connection-error'));
        s.on('close', () => {
          if (this.socket === s) this.socket = undefined;
          if (!this.stopped) this.kick();
        });
        s.on('drain', () => this.kick());
        // Receivers send nothing; read anyway so a chatty one cannot stall us.
        s.resume();
        resolve(s);
      });
    }));
  }

  override stop(): void {
    super.stop();
    // Give written frames a moment to leave, then close.
    this.socket?.end();
    const s = this.socket;
    setTimeout(() => s?.destroy(), 1000).unref();
  }
}
