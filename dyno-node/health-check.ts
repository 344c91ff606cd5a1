/**
 * HTTP health checks of new web dynos (app.json `healthchecks.web`): once the
 * dyno accepts on $PORT, GET `path` must answer `status` within `timeoutMs`;
 * up to `attempts` tries, `intervalMs` apart. Only a dyno that passed counts as
 * up, so preboot moves traffic only to dynos that passed (the scheduler keeps
 * the old ones until enough new ones are up).
 */
import { request } from 'node:http';
import type { HealthCheck } from '../cluster/records.ts';

export interface ProbeResult {
  ok: boolean;
  /** `GET /health -> 500`, `GET /health -> timed out after 5 s`: what `ps` and the logs show. */
  what: string;
}

/** One check: a GET with no keep-alive, the body drained and ignored. */
export function probe(host: string, port: number, hc: HealthCheck): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const what = `GET ${hc.path}`;
    const req = request({ host, port, path: hc.path, method: 'GET', agent: false, headers: { 'user-agent': 'dynomesh-health-check', connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status === hc.status, what: `${what} -> ${status}${status === hc.status ? '' : ` (expected ${hc.status})`}` });
    });
    req.setTimeout(hc.timeoutMs, () => {
      req.destroy();
      resolve({ ok: false, what: `${what} -> timed out after ${hc.timeoutMs / 1000} s` });
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ok: false, what: `${what} -> ${err.code === 'ECONNREFUSED' ? 'connection refused' : err.code === 'ECONNRESET' ? 'connection reset' : err.message}` }));
    req.end();
  });
}
