/**
 * `floor`: the router's stack with none of the router's work (`floor-proxy.ts`), on the
 * proxy core, hello only. The gap between it and nginx is what the stack itself costs;
 * the gap between it and the router is what the Heroku semantics cost.
 */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPinned, waitForPort } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';
import type { Target } from './target.ts';

const script = join(dirname(fileURLToPath(import.meta.url)), 'floor-proxy.ts');

export const floor: Target = {
  name: 'floor',
  async start(ctx) {
    const port = await freePort();
    const logFile = join(ctx.dir, `floor-${port}.log`);
    const p = startPinned(ctx.placement.proxy, process.execPath, ['--import', 'tsx', script, '--port', String(port), '--upstream-port', String(ctx.backend.port)], { logFile });
    await waitForPort(port, 'floor proxy', { exited: p.exited, logFile, timeoutMs: 15_000 });
    return { name: 'floor', port, pids: { floor: p.pid }, stop: p.stop };
  },
};
