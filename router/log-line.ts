/**
 * One line per request in Heroku's router format, e.g.
 *   at=info method=GET path="/" host=app.example.com request_id=… fwd="1.2.3.4" dyno=web.1 connect=1ms service=3ms status=200 bytes=13 protocol=http1.1
 *   at=error code=H12 desc="Request timeout" method=GET path="/slow" … status=503 bytes=0 protocol=http1.1
 * Lines go to a LogSink: the router's pino log now, the app's log stream once the log service exists.
 */
import type { Logger } from 'pino';

export interface RequestLog {
  app: string;
  method: string;
  path: string;
  host: string;
  requestId: string;
  fwd: string;
  dyno: string;
  connectMs: number;
  serviceMs: number;
  status: number;
  bytes: number;
  code: string | null;
  desc: string | null;
}

export interface LogSink {
  /** `line` is already formatted; `app` says whose stream it belongs to ('' when no app matched). */
  write(app: string, line: string, isError: boolean): void;
}

const quote = (s: string): string => '"' + (s.indexOf('"') >= 0 || s.indexOf('\\') >= 0 ? s.replace(/[\\"]/g, '\\$&') : s) + '"';

export function formatLine(r: RequestLog): string {
  const head = r.code ? `at=error code=${r.code} desc=${quote(r.desc ?? '')} ` : 'at=info ';
  return (
    head +
    'method=' + r.method +
    ' path=' + quote(r.path.length > 2048 ? r.path.slice(0, 2048) + '...' : r.path) +
    ' host=' + (r.host || '-') +
    ' request_id=' + r.requestId +
    ' fwd=' + quote(r.fwd) +
    ' dyno=' + (r.dyno || '-') +
    ' connect=' + r.connectMs + 'ms' +
    ' service=' + r.serviceMs + 'ms' +
    ' status=' + r.status +
    ' bytes=' + r.bytes +
    ' protocol=http1.1'
  );
}

/** Every line to each sink: the app's log stream and the router's own access log. */
export function teeSink(sinks: LogSink[]): LogSink {
  if (sinks.length === 1) return sinks[0]!;
  return {
    write(app: string, line: string, isError: boolean): void {
      for (const s of sinks) s.write(app, line, isError);
    },
  };
}

/** Writes router lines to a pino logger as `{app, line}` with the event `router-request`. */
export class PinoSink implements LogSink {
  constructor(private readonly log: Logger) {}

  write(app: string, line: string, isError: boolean): void {
    if (isError) this.log.warn({ app, line }, 'router-request');
    else this.log.info({ app, line }, 'router-request');
  }
}
