/** What one load run against one target measured; the same shape for wrk and our open-loop generator. */
export interface LoadResult {
  mode: 'closed' | 'open';
  /** Requests completed in the measured window. */
  requests: number;
  duration_s: number;
  rps: number;
  bytes_per_s: number;
  p50_ms: number;
  p90_ms: number;
  p99_ms: number;
  p999_ms: number;
  max_ms: number;
  errors: number;
  non2xx: number;
  /** The load generator's CPU use, percent of one core (visibly not the bottleneck when < ~90). */
  loadgen_cpu_pct?: number;
  /** Percent of one core used by the proxy / backend during the run, sampled from /proc. */
  proxy_cpu_pct?: number;
  backend_cpu_pct?: number;
  /** How busy each core was during the run, by anyone (shows other work on a shared machine). */
  core_busy_pct?: number[];
  /** Open loop only: the rate asked for, and the latency a non-corrected tool would show. */
  target_rate?: number;
  uncorrected_p99_ms?: number;
  max_queued?: number;
  timeouts?: number;
}
