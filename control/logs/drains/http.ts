/**
 * An HTTPS drain: POSTs batches as logplex does, body `application/logplex-1`
 * (octet-counted syslog messages) with `Logplex-Msg-Count`, `Logplex-Frame-Id`
 * (the same id on every retry of a batch, so receivers can de-duplicate) and
 * `Logplex-Drain-Token`. One batch in flight; a network error, 429 or 5xx is
 * retried with backoff; another 4xx drops the batch (the receiver refuses it).
 */
import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { Egress } from '../../../lib/egress.ts';
import type { LogRecord } from '../../../logplex/record.ts';
import { DrainOutput } from './output.ts';
import { logplexMessage, octetFrame } from './rfc5424.ts';

const BATCH_MAX = 500;
const TIMEOUT_MS = 15_000;

export class HttpDrain extends DrainOutput {
  /** The batch being delivered, kept across retries with its frame id. */
  private current: { id: string; recs: LogRecord[] } | undefined;
  /** The tenant's destination is checked at connect time (lib/egress.ts). */
  egress: Egress | undefined;

  protected override holding(): boolean {
    return this.current !== undefined;
  }

  protected async deliver(): Promise<number> {
    if (!this.current) {
      const recs = this.backlog.splice(0, BATCH_MAX);
      if (!recs.length) return 0;
      this.current = { id: randomUUID(), recs };
    }
    const { id, recs } = this.current;
    const u = new URL(this.drain.url);
    const headers: Record<string, string> = {
      'content-type': 'application/logplex-1',
      'logplex-msg-count': String(recs.length),
      'logplex-frame-id': id,
      'logplex-drain-token': this.drain.token,
      'user-agent': 'Logplex/dynomesh',
    };
    if (u.username) {
      headers.authorization = 'Basic ' + Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64');
      u.username = '';
      u.password = '';
    }
    const body = recs.map((r) => octetFrame(logplexMessage(r))).join('');
    // undici follows no redirects here; the guard checks a literal address now and a name when connecting.
    this.egress?.checkLiteral(u.hostname, Number(u.port || (u.protocol === 'https:' ? 443 : 80)), 'drain');
    const res = await request(u, {
      method: 'POST', headers, body, headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS, ...(this.egress ? { dispatcher: this.egress.dispatcher() } : {}),
    }).catch((err: Error & { cause?: Error }) => {
      throw err.name === 'EgressRefused' || err.cause?.name === 'EgressRefused' ? Object.assign(new Error(`drain refused: ${(err.cause ?? err).message}`), { name: 'EgressRefused' }) : err;
    });
    await res.body.dump();
    if (res.statusCode >= 200 && res.statusCode < 300) {
      this.current = undefined;
      return recs.length;
    }
    if (res.statusCode === 429 || res.statusCode >= 500 || res.statusCode === 408) throw new Error(`drain answered ${res.statusCode}`);
    this.log.warn({ drain: this.drain.id, app: this.drain.app, status: res.statusCode, messages: recs.length }, 'drain-batch-refused');
    this.current = undefined;
    this.stats.dropped += recs.length;
    this.stats.delivered -= recs.length; // the base counts what we return; these were refused, not delivered
    return recs.length;
  }
}
