/**
 * Adapters from each producer's own sink interface to a LogShipper. They are
 * shaped structurally, so logplex/ imports neither router/ nor dyno-node/.
 */
import { METRICS_DYNO } from './metrics.ts';
import type { LogShipper } from './shipper.ts';

/** router/log-line.ts `LogSink`: one `heroku[router]` line per request. */
export function routerSink(shipper: LogShipper) {
  return {
    write(app: string, line: string, _isError: boolean): void {
      if (app) shipper.write({ app, source: 'heroku', dyno: 'router', line });
    },
    /** router/app-meter.ts samples, already JSON (logplex/metrics.ts). */
    sample(app: string, line: string): void {
      shipper.write({ app, source: 'heroku', dyno: METRICS_DYNO, line });
    },
  };
}

/** dyno-node/output.ts `LogSink`: dyno output (`app[web.1]`) and lifecycle lines (`heroku[web.1]`). */
export function dynoSink(shipper: LogShipper) {
  return {
    write(rec: { app: string; dyno: string; source: 'app' | 'heroku'; ts: number; line: string }): void {
      // The dyno-node stamps ms; take µs now (the record was made just before) so lines keep their order.
      shipper.write({ app: rec.app, source: rec.source, dyno: rec.dyno, line: rec.line });
    },
  };
}
