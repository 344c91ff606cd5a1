/**
 * Drain message formats.
 *
 * Syslog drains get RFC 5424 messages with octet-counted framing (RFC 6587 §3.4.1):
 *   `<len> <190>1 2026-11-26T10:00:00.123456+00:00 d.<uuid> app web.1 - - message`
 * HOSTNAME is the drain token (as Heroku does, so a receiver can tell drains
 * apart), APP-NAME the source, PROCID the dyno. PRI 190 = local7.info.
 *
 * HTTPS drains get logplex's `application/logplex-1` body: the same framing,
 * messages as logplex writes them (`<190>1 <time> host <source> <dyno> - <message>`).
 */
import { formatTime, type LogRecord } from '../../../logplex/record.ts';

const PRI = '<190>1 ';

/** RFC 5424 fields must be printable US-ASCII without spaces; NILVALUE when empty. */
const field = (s: string, max: number) => (s.replace(/[^\x21-\x7e]/g, '_').slice(0, max) || '-');

export function syslogMessage(r: LogRecord, token: string): string {
  return PRI + formatTime(r.ts) + ' ' + field(token, 255) + ' ' + field(r.source, 48) + ' ' + field(r.dyno, 128) + ' - - ' + r.line;
}

export function logplexMessage(r: LogRecord): string {
  return PRI + formatTime(r.ts) + ' host ' + field(r.source, 48) + ' ' + field(r.dyno, 128) + ' - ' + r.line;
}

/** RFC 6587 octet counting: `MSG-LEN SP SYSLOG-MSG`, the length in bytes. */
export function octetFrame(msg: string): string {
  return Buffer.byteLength(msg) + ' ' + msg;
}
