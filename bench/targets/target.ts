/**
 * A target is one thing the load generator hits: a proxy in front of the backend, or the
 * backend itself. Each starts its own processes, says where it listens, and stops them all.
 */
import type { Placement } from '../placement.ts';
import type { Backend } from '../backends/index.ts';

export type TargetName = 'router' | 'router-cni' | 'floor' | 'nginx' | 'haproxy' | 'caddy' | 'direct';
/**
 * `floor` (the router's stack without its work) runs in the hello scenario only; `router-cni`
 * (the router in front of a backend on an isolated dyno's network path) in hello and 16k.
 */
export const TARGET_NAMES: TargetName[] = ['router', 'router-cni', 'floor', 'nginx', 'haproxy', 'caddy', 'direct'];

/** The app name and Host header every request carries (the router routes by it; the others ignore it). */
export const BENCH_APP = 'bench';
export const BENCH_HOST = `${BENCH_APP}.localhost`;

export interface TargetContext {
  placement: Placement;
  backend: Backend;
  /** A private temp dir for configs, pid files and logs. */
  dir: string;
  /** Router worker threads (router target only). */
  routerWorkers: number;
  /** End TLS with this certificate; the target's `port` is then its TLS port. */
  tls?: TlsFiles;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** Certificate and key in one file (HAProxy's `crt`). */
  pemFile: string;
}

export interface RunningTarget {
  name: string;
  port: number;
  /** Processes to sample for CPU use (name -> pid); empty for direct. */
  pids: Record<string, number>;
  stop(): Promise<void>;
}

export interface Target {
  name: TargetName;
  /** Throws TargetUnavailable with a one-line reason when it cannot run here. */
  start(ctx: TargetContext): Promise<RunningTarget>;
}

export class TargetUnavailable extends Error {
  constructor(readonly target: string, reason: string) {
    super(`${target}: ${reason}`);
  }
}
