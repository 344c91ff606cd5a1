/** Starts a backend dyno process (uWS or node:http) pinned to the backend core. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPinned, waitForPort, type Started } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';

export type BackendKind = 'uws' | 'node';
export const BACKEND_KINDS: BackendKind[] = ['uws', 'node'];

const here = dirname(fileURLToPath(import.meta.url));

export interface Backend {
  kind: BackendKind;
  id: string;
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startBackend(kind: BackendKind, core: string | undefined, logDir: string, id = 'web.1'): Promise<Backend> {
  const port = await freePort();
  const script = join(here, kind === 'uws' ? 'uws-server.ts' : 'node-server.ts');
  const logFile = join(logDir, `backend-${kind}-${id}.log`);
  const p: Started = startPinned(core, process.execPath, ['--import', 'tsx', script, '--port', String(port), '--id', id], { logFile });
  await waitForPort(port, `${kind} backend`, { exited: p.exited, logFile, timeoutMs: 15_000 });
  return { kind, id, port, pid: p.pid, stop: p.stop };
}
