/**
 * Route propagation: time from an etcd write (an Endpoint record moved to another backend,
 * as when a dyno restarts elsewhere) to the first request the router sends to the new
 * backend, measured by a client polling the router back to back. p50/p99 over N changes.
 */
import { Agent, request } from 'node:http';
import { percentile } from './stats.ts';
import { BENCH_HOST } from './targets/target.ts';
import type { RouterEnv } from './targets/router.ts';
import type { Backend } from './backends/index.ts';

export interface PropagationResult {
  p50: number;
  p99: number;
  max: number;
  changes: number;
  failed: number;
  /** Round trip of one polling request, which bounds the resolution. */
  poll_rtt_ms: number;
}

function backendOf(agent: Agent, port: number): Promise<string> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/hello', headers: { host: BENCH_HOST }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['x-backend'] ?? `status-${res.statusCode}`)));
    });
    req.on('error', (e) => resolve(`error-${e.message}`));
    req.end();
  });
}

export async function measurePropagation(env: RouterEnv, routerPort: number, a: Backend, b: Backend, changes = 100, timeoutMs = 5000): Promise<PropagationResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const samples: number[] = [];
  let failed = 0;
  let polls = 0;
  let pollTime = 0;
  try {
    await env.putEndpoint('web.1', a.port);
    const deadline = Date.now() + timeoutMs;
    while ((await backendOf(agent, routerPort)) !== a.id) {
      if (Date.now() > deadline) throw new Error(`router did not route to backend ${a.id} within ${timeoutMs} ms`);
    }
    for (let i = 0; i < changes; i++) {
      const to = i % 2 === 0 ? b : a;
      const t0 = performance.now();
      await env.putEndpoint('web.1', to.port);
      let seen = false;
      while (performance.now() - t0 < timeoutMs) {
        const p0 = performance.now();
        const who = await backendOf(agent, routerPort);
        pollTime += performance.now() - p0;
        polls++;
        if (who === to.id) { seen = true; break; }
      }
      if (seen) samples.push(performance.now() - t0);
      else failed++;
      await new Promise((r) => setTimeout(r, 5)); // let the watch settle between changes
    }
  } finally {
    agent.destroy();
  }
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return {
    p50: r(percentile(samples, 50)), p99: r(percentile(samples, 99)), max: r(samples.length ? Math.max(...samples) : NaN),
    changes, failed, poll_rtt_ms: r(polls ? pollTime / polls : NaN),
  };
}
