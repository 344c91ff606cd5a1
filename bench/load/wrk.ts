/**
 * Closed-loop maximum throughput with `wrk` (Debian's 4.1): fixed connections for a fixed
 * duration. A small Lua `done()` hook prints exact percentiles (p99.9 included), and the
 * shell's `times` gives wrk's own CPU so the report shows it was not the bottleneck.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadResult } from './result.ts';
import { track } from '../proc.ts';

export interface WrkOptions {
  port: number;
  path: string;
  host: string;
  connections: number;
  durationS: number;
  threads: number;
  core: string | undefined;
  method?: 'GET' | 'POST';
  bodyBytes?: number;
  /** New TCP connection for every request (wrk reconnects after `Connection: close`). */
  closeEach?: boolean;
  /** https:// (wrk's TLS: a full handshake per new connection, no session resumption). */
  tls?: boolean;
  scriptDir: string;
}

export function wrkScript(o: Pick<WrkOptions, 'method' | 'bodyBytes'>): string {
  const lines = ['-- written by dynomesh bench'];
  if (o.method === 'POST') {
    lines.push('wrk.method = "POST"', `wrk.body = string.rep("x", ${o.bodyBytes ?? 0})`, 'wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("DM_RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d\\n",',
    '    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))',
    '  for _, p in ipairs({50, 90, 99, 99.9}) do io.write(string.format("DM_PCT %g %d\\n", p, latency:percentile(p))) end',
    '  io.write(string.format("DM_PCT max %d\\n", latency.max))',
    'end',
  );
  return lines.join('\n') + '\n';
}

export function wrkArgs(o: WrkOptions, scriptPath: string, durationS = o.durationS): string[] {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${durationS}s`, '--latency', '--timeout', '5s', '-s', scriptPath, '-H', `Host: ${o.host}`];
  if (o.closeEach) args.push('-H', 'Connection: close');
  args.push(`${o.tls ? 'https' : 'http'}://127.0.0.1:${o.port}${o.path}`);
  return args;
}

/** Run wrk (pinned), returning its stdout and its own CPU seconds (user+sys, from `times`). */
async function exec(o: WrkOptions, args: string[]): Promise<{ out: string; cpuS: number; wallS: number }> {
  const pin = o.core ? `taskset -c ${o.core} ` : '';
  const t0 = performance.now();
  const child = spawn('bash', ['-c', `${pin}wrk "$@"; rc=$?; echo DM_TIMES; times; exit $rc`, 'wrk', ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  track(child); // its own process group, killed with the rest on Ctrl-C
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { err += d; });
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`wrk failed (exit ${code}): ${(err || out).trim().split('\n').slice(-3).join(' ')}`);
  return { out, cpuS: parseTimes(out), wallS: (performance.now() - t0) / 1000 };
}

/** Warm up, then measure; `onMeasure` runs just before the measured run starts (CPU meters). */
export async function runWrk(o: WrkOptions, warmupS: number, onMeasure?: () => void): Promise<LoadResult> {
  const script = join(o.scriptDir, `wrk-${o.method ?? 'GET'}-${o.bodyBytes ?? 0}.lua`);
  writeFileSync(script, wrkScript(o));
  if (warmupS > 0) await exec(o, wrkArgs(o, script, warmupS));
  onMeasure?.();
  const { out, cpuS, wallS } = await exec(o, wrkArgs(o, script));
  const r = parseWrk(out);
  r.loadgen_cpu_pct = Math.round((cpuS / wallS) * 1000) / 10;
  return r;
}

/** `times` prints the shell's then its children's user/sys: "0m1.234s 0m0.567s". */
export function parseTimes(out: string): number {
  const after = out.slice(out.lastIndexOf('DM_TIMES'));
  const lines = after.split('\n').filter((l) => /\d+m[\d.]+s/.test(l));
  const last = lines[lines.length - 1];
  if (!last) return NaN;
  let s = 0;
  for (const m of last.matchAll(/(\d+)m([\d.]+)s/g)) s += Number(m[1]) * 60 + Number(m[2]);
  return s;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const UNIT_BYTES: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** "560.00us" / "1.17ms" / "2.00s" -> milliseconds. */
export function parseWrkDuration(s: string): number {
  const m = /^([\d.]+)(us|ms|s|m|h)$/.exec(s.trim());
  if (!m) throw new Error(`cannot read wrk duration "${s}"`);
  return Number(m[1]) * UNIT_MS[m[2]!]!;
}

export function parseWrkBytes(s: string): number {
  const m = /^([\d.]+)(B|KB|MB|GB|TB)$/.exec(s.trim());
  if (!m) throw new Error(`cannot read wrk size "${s}"`);
  return Number(m[1]) * UNIT_BYTES[m[2]!]!;
}

/**
 * wrk's output -> LoadResult. Exact figures come from the DM_ lines of our Lua hook;
 * the standard text is the fallback (it has no p99.9 and rounds sizes).
 */
export function parseWrk(out: string): LoadResult {
  const pct = new Map<string, number>();
  for (const m of out.matchAll(/^DM_PCT (\S+) (\d+)$/gm)) pct.set(m[1]!, Number(m[2]) / 1000);
  const dm = /^DM_RESULT (.*)$/m.exec(out);
  const text = textStats(out);
  if (!dm && !text.rps) throw new Error(`wrk printed no results: ${out.trim().slice(0, 200)}`);
  let requests: number, duration_s: number, bytes: number, errors: number, non2xx: number;
  if (dm) {
    const f = Object.fromEntries([...dm[1]!.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1]!, Number(m[2])]));
    requests = f.requests!;
    duration_s = f.duration_us! / 1e6;
    bytes = f.bytes!;
    errors = f.connect! + f.read! + f.write! + f.timeout!;
    non2xx = f.status!;
  } else {
    requests = text.requests;
    duration_s = text.duration_s;
    bytes = text.bytes;
    errors = text.errors;
    non2xx = text.non2xx;
  }
  return {
    mode: 'closed', requests, duration_s,
    rps: duration_s > 0 ? requests / duration_s : text.rps,
    bytes_per_s: duration_s > 0 ? bytes / duration_s : text.bytes_per_s,
    p50_ms: pct.get('50') ?? text.pct['50'] ?? NaN,
    p90_ms: pct.get('90') ?? text.pct['90'] ?? NaN,
    p99_ms: pct.get('99') ?? text.pct['99'] ?? NaN,
    p999_ms: pct.get('99.9') ?? NaN,
    max_ms: pct.get('max') ?? text.max_ms,
    errors, non2xx,
  };
}

function textStats(out: string) {
  const pct: Record<string, number> = {};
  for (const m of out.matchAll(/^\s+(50|75|90|99)%\s+(\S+)$/gm)) pct[m[1]!] = parseWrkDuration(m[2]!);
  const rq = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  const lat = /^\s+Latency\s+\S+\s+\S+\s+(\S+)/m.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  const tr = /Transfer\/sec:\s+(\S+)/.exec(out);
  return {
    pct,
    requests: rq ? Number(rq[1]) : 0,
    duration_s: rq ? parseWrkDuration(rq[2]!) / 1000 : 0,
    bytes: rq ? parseWrkBytes(rq[3]!) : 0,
    max_ms: lat ? parseWrkDuration(lat[1]!) : NaN,
    errors: sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: non ? Number(non[1]) : 0,
    rps: rps ? Number(rps[1]) : 0,
    bytes_per_s: tr ? parseWrkBytes(tr[1]!) : 0,
  };
}
