/**
 * One line per request in Heroku's router format, e.g.
 *   at=info method=GET path="/" host=app.example.com request_id=… fwd="1.2.3.4" dyno=web.1 connect=1ms service=3ms status=200 bytes=13 protocol=https
 *   at=error code=H12 desc="Request timeout" method=GET path="/slow" … status=503 bytes=0 protocol=http
 * `protocol=` is the client's scheme (http or https), as in Heroku's router lines.
 * Lines go to a LogSink: the router's pino log now, the app's log stream once the log service exists.
 */
import { symbols as pinoSymbols, type Logger } from 'pino';

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
  /** `http` or `https` (the listener the request came in on); http when not given. */
  protocol?: string;
}

export interface LogSink {
  /** `line` is already formatted; `app` says whose stream it belongs to ('' when no app matched). */
  write(app: string, line: string, isError: boolean): void;
  /** Write out anything batched (shutdown). */
  flush?(): void;
  /** A per-app metric sample (router/app-meter.ts) for the app's log owner; sinks that keep no stream ignore it. */
  sample?(app: string, line: string): void;
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
    ' protocol=' + (r.protocol ?? 'http')
  );
}

/** Every line to each sink: the app's log stream and the router's own access log. */
export function teeSink(sinks: LogSink[]): LogSink {
  if (sinks.length === 1) return sinks[0]!;
  return {
    write(app: string, line: string, isError: boolean): void {
      for (const s of sinks) s.write(app, line, isError);
    },
    flush(): void {
      for (const s of sinks) s.flush?.();
    },
    sample(app: string, line: string): void {
      for (const s of sinks) s.sample?.(app, line);
    },
  };
}

/** Above this many buffered bytes the access log writes at once instead of waiting for its timer. */
const ACCESS_BATCH_BYTES = 64 * 1024;
/** Longest a line waits in the batch. */
export const ACCESS_BATCH_MS = 50;

/**
 * The router's own access log, batched: the same JSON records pino writes for
 * `log.info({app, line}, 'router-request')` (level, time, the logger's bindings,
 * app, line, msg), built with one JSON.stringify per line and handed to pino's
 * destination every 50 ms (or 64 KB) instead of once per request. A pino write per
 * request (serialize, redact check, one write(2) each) was ~15% of the router's CPU
 * at full load, and a write per event-loop turn still ~10%. Works for pretty output
 * too: pino's transport stream takes the same JSON lines.
 */
export class AccessLog implements LogSink {
  private buf = '';
  private timer: NodeJS.Timeout | null = null;
  private readonly stream: { write(s: string): unknown };
  private readonly bindings: string;
  private readonly info: boolean;
  private readonly warn: boolean;
  private readonly flushNow = (): void => this.flush();

  constructor(log: Logger) {
    const l = log as unknown as Record<symbol, unknown>;
    this.stream = l[pinoSymbols.streamSym] as { write(s: string): unknown };
    this.bindings = (l[pinoSymbols.chindingsSym] as string | undefined) ?? '';
    this.info = log.isLevelEnabled('info');
    this.warn = log.isLevelEnabled('warn');
  }

  write(app: string, line: string, isError: boolean): void {
    if (!(isError ? this.warn : this.info)) return;
    this.buf += '{"level":' + (isError ? 40 : 30) + ',"time":' + Date.now() + this.bindings + ',"app":' + JSON.stringify(app) + ',"line":' + JSON.stringify(line) + ',"msg":"router-request"}\n';
    if (this.buf.length >= ACCESS_BATCH_BYTES) this.flush();
    else if (this.timer === null) this.timer = setTimeout(this.flushNow, ACCESS_BATCH_MS);
  }

  flush(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.buf === '') return;
    const b = this.buf;
    this.buf = '';
    this.stream.write(b);
  }
}
