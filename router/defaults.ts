/**
 * The router's defaults, apart from the router itself so that `dynomesh router --help`
 * (and every other command of the one binary) shows them without loading uWS or etcd.
 */
import { DEFAULT_MAX_HEAD_SIZE } from './limits.ts';
import type { RouterOptions } from './server.ts';

export const ROUTER_DEFAULTS: RouterOptions = {
  host: '0.0.0.0',
  port: 5000,
  adminHost: '127.0.0.1',
  adminPort: 5001,
  baseDomain: 'localhost',
  defaultBalanceFactor: 1.25,
  drainTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  firstByteTimeoutMs: 30_000,
  idleTimeoutMs: 55_000,
  quarantineMs: 5_000,
  maxTries: 4,
  proto: 'http',
  httpsPort: undefined,
  maxHeadSize: DEFAULT_MAX_HEAD_SIZE,
};
