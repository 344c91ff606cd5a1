/**
 * What each kind of authenticated producer may write into an app's stream, so a
 * stolen router or node credential cannot forge other sources' lines:
 *
 *   router   heroku[router] lines
 *   node     a dyno's output and lifecycle lines: app[web.1], heroku[web.1] (never router or api)
 *   control  anything: platform events, forwarded batches (hops > 0), history handoffs
 *   any      heroku[logplex] L10 lines, which every producer writes when its buffer overflowed
 *   metrics  heroku[metrics] samples (logplex/metrics.ts): a router only its request counts, a node only dyno readings
 */
import type { ProducerKind } from '../../logplex/credential.ts';
import type { WireRecord } from '../../logplex/wire.ts';
import { METRICS_DYNO } from '../../logplex/metrics.ts';

const L10 = /^Error L10 \(output buffer overflow\): \d+ messages dropped since [0-9T:.+-]+\.$/;

export function mayWrite(kind: ProducerKind, w: WireRecord): boolean {
  if (kind === 'control') return true;
  const [, source, dyno, , line] = w;
  if (dyno === 'logplex') return source === 'heroku' && L10.test(line);
  if (dyno === METRICS_DYNO) return source === 'heroku' && line.startsWith(kind === 'router' ? '{"k":"r",' : '{"k":"d",');
  if (kind === 'router') return source === 'heroku' && dyno === 'router';
  return dyno.includes('.');
}

/** Only control instances forward other producers' records or hand an app's history over. */
export const mayRelay = (kind: ProducerKind): boolean => kind === 'control';
