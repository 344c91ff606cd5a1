/** Starts a backend dyno process (uWS or node:http) pinned to the backend core. */
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPinned, waitForPort, type Started } from '../proc.ts';
import { freePort } from '../../lib/ports.ts';
import { benchNetwork } from './cni.ts';

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

/** `host`: on the host's loopback. `cni`: in its own network namespace, published by portmap as an isolated dyno is. */
export type BackendNet = 'host' | 'cni';

export async function startBackend(kind: BackendKind, core: string | undefined, logDir: string, id = 'web.1', net: BackendNet = 'host'): Promise<Backend> {
  const port = await freePort();
  const script = join(here, kind === 'uws' ? 'uws-server.ts' : 'node-server.ts');
  const logFile = join(logDir, `backend-${kind}-${id}.log`);
  const argv = [process.execPath, '--import', 'tsx', script, '--port', String(port), '--id', id];
  if (net === 'host') {
    const p: Started = startPinned(core, argv[0]!, argv.slice(1), { logFile });
    await waitForPort(port, `${kind} backend`, { exited: p.exited, logFile, timeoutMs: 15_000 });
    return { kind, id, port, pid: p.pid, stop: p.stop };
  }
  // Inside the namespace it listens on the same port number; the host reaches it at 127.0.0.1:hostPort.
  const bn = await benchNetwork(logDir);
  const hostPort = await freePort();
  const cid = `${id.replace(/[^A-Za-z0-9]/g, '')}${port}`;
  const { netns } = await bn.attach(cid, port, hostPort);
  const p: Started = startPinned(undefined, 'ip', ['netns', 'exec', netns, ...(core ? ['taskset', '-c', core] : []), ...argv, '--host', '0.0.0.0'], { logFile });
  try {
    await waitForPort(hostPort, `${kind} backend in ${netns}`, { exited: p.exited, logFile, timeoutMs: 15_000 });
  } catch (err) {
    await p.stop();
    await bn.detach(cid, port, hostPort);
    throw err;
  }
  // `ip netns exec` and taskset both exec: the pid is the backend's own, for the CPU meter.
  return { kind, id, port: hostPort, pid: p.pid, stop: async () => { await p.stop(); await bn.detach(cid, port, hostPort); } };
}
