/** The scenarios: what is requested, over how many connections, and how. */
import { UPLOAD_PATH } from './backends/bodies.ts';

export interface Scenario {
  name: string;
  title: string;
  path: string;
  method: 'GET' | 'POST';
  bodyBytes?: number;
  /** Closed-loop connections (the anchors use 64). */
  connections: number;
  closeEach?: boolean;
  /** Bytes/s matters more than req/s (large bodies). */
  byteBound?: boolean;
  /** Over TLS: each proxy ends TLS with the same certificate (EC P-256) and TLS 1.2+ (bench/tls.ts). */
  tls?: boolean;
}

export const SCENARIOS: Scenario[] = [
  { name: 'hello', title: 'GET 13 B, 64 keep-alive conns', path: '/hello', method: 'GET', connections: 64 },
  { name: '16k', title: 'GET 16 KB body', path: '/16k', method: 'GET', connections: 64, byteBound: true },
  { name: '1m', title: 'GET 1 MB body', path: '/1m', method: 'GET', connections: 16, byteBound: true },
  { name: 'post64k', title: 'POST 64 KB body', path: UPLOAD_PATH, method: 'POST', bodyBytes: 64 * 1024, connections: 64, byteBound: true },
  { name: 'conns1000', title: 'GET 13 B, 1,000 keep-alive conns', path: '/hello', method: 'GET', connections: 1000 },
  { name: 'newconn', title: 'GET 13 B, new connection per request', path: '/hello', method: 'GET', connections: 64, closeEach: true },
  { name: 'tls', title: 'GET 13 B over TLS, 64 keep-alive conns', path: '/hello', method: 'GET', connections: 64, tls: true },
  { name: 'tlsnew', title: 'GET 13 B, new TLS connection (full handshake) per request: req/s = handshakes/s', path: '/hello', method: 'GET', connections: 64, closeEach: true, tls: true },
];

export const SCENARIO_NAMES = SCENARIOS.map((s) => s.name);

export function scenarioByName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`unknown scenario "${name}"; choose from ${SCENARIO_NAMES.join(', ')}`);
  return s;
}
