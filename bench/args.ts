/** `npm run bench -- [options]`: flags, defaults and --quick, parsed into one BenchConfig. */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseDuration, parsePositiveInt } from '../lib/options.ts';
import { TARGET_NAMES, type TargetName } from './targets/target.ts';
import { BACKEND_KINDS, type BackendKind } from './backends/index.ts';
import { SCENARIO_NAMES } from './scenarios.ts';

/** An open-loop rate: a number of req/s, or half of nginx's measured hello maximum. */
export type Rate = number | 'half-nginx';

export interface BenchConfig {
  quick: boolean;
  rounds: number;
  targets: TargetName[];
  backend: BackendKind;
  scenarios: string[];
  rates: Rate[];
  durationS: number;
  warmupS: number;
  openDurationS: number;
  /** Override every scenario's closed-loop connection count. */
  connections?: number;
  routerWorkers: number[];
  loadgenThreads: number;
  propagationChanges: number;
  /** Apps in the big route-table measurement (10 endpoints each); 0 skips it. */
  routeTableApps: number;
  out: string;
}

function list<T extends string>(what: string, allowed: readonly T[]) {
  return (v: string): T[] => {
    const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
    if (xs.length === 0) throw new InvalidArgumentError(`expected a comma-separated list of ${what} (${allowed.join(', ')}).`);
    for (const x of xs) if (!allowed.includes(x as T)) throw new InvalidArgumentError(`unknown ${what} "${x}"; choose from ${allowed.join(', ')}.`);
    return [...new Set(xs)] as T[];
  };
}

export function parseRates(v: string): Rate[] {
  const xs = v.split(',').map((s) => s.trim()).filter(Boolean);
  if (xs.length === 0) throw new InvalidArgumentError('expected rates in req/s, e.g. 10000,30000 (or half-nginx).');
  return xs.map((x) => {
    if (x === 'half-nginx') return x;
    const m = /^(\d+(?:\.\d+)?)(k?)$/i.exec(x);
    const n = m ? Number(m[1]) * (m[2] ? 1000 : 1) : NaN;
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`"${x}" is not a rate; write req/s like 10000 or 10k, or half-nginx.`);
    return n;
  });
}

function seconds(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000) throw new InvalidArgumentError(`"${v}" is shorter than 1s; wrk measures in whole seconds.`);
  return Math.round(ms / 1000);
}

function seconds0(v: string): number {
  return v === '0' ? 0 : seconds(v);
}

export function benchProgram(): Command {
  return new Command('bench')
    .description('routing latency: the dynomesh router beside nginx, HAProxy and a direct hit on the backend')
    .option('--quick', 'hello scenario only, 1 round, short runs: finishes within 60 s', false)
    .option('--rounds <n>', 'rounds; targets alternate A B C D in each', parsePositiveInt)
    .addOption(new Option('--targets <list>', `targets, comma-separated (${TARGET_NAMES.join(',')})`).argParser(list('target', TARGET_NAMES)))
    .addOption(new Option('--backend <kind>', 'backend dyno').choices(BACKEND_KINDS).default('uws'))
    .addOption(new Option('--scenarios <list>', `scenarios (${SCENARIO_NAMES.join(',')})`).argParser(list('scenario', SCENARIO_NAMES)))
    .option('--rates <list>', 'open-loop rates in req/s (hello scenario), e.g. 10000,30000,half-nginx', parseRates)
    .option('--duration <d>', 'measured time of each closed-loop run (e.g. 10s)', seconds)
    .option('--warmup <d>', 'warm-up before each measured run (0 for none)', seconds0)
    .option('--open-duration <d>', 'measured time of each open-loop run', seconds)
    .option('--connections <n>', 'closed-loop connections for every scenario (default: 64, 16 for 1 MB, 1000 for conns1000)', parsePositiveInt)
    .option('--router-workers <list>', 'router worker counts to run in the hello scenario, e.g. 1,2', (v: string) => v.split(',').map((x) => parsePositiveInt(x.trim())))
    .option('--loadgen-threads <n>', 'open-loop generator worker threads', parsePositiveInt, 1)
    .option('--propagation-changes <n>', 'etcd changes timed for route propagation', parsePositiveInt)
    .option('--route-table <apps>', 'apps (x10 endpoints) for the route-table memory/apply figure; 0 skips (default 10000, 0 with --quick)', (v: string) => (v === '0' ? 0 : parsePositiveInt(v)))
    .option('--out <file>', 'JSON report path', 'bench/results/latest.json')
    .showHelpAfterError('(run with --help for usage)');
}

interface Flags {
  quick: boolean; rounds?: number; targets?: TargetName[]; backend: BackendKind; scenarios?: string[]; rates?: Rate[];
  duration?: number; warmup?: number; openDuration?: number; connections?: number; routerWorkers?: number[];
  loadgenThreads: number; propagationChanges?: number; routeTable?: number; out: string;
}

/** Defaults differ under --quick; explicit flags always win. */
export function configFrom(f: Flags): BenchConfig {
  const q = f.quick;
  return {
    quick: q,
    rounds: f.rounds ?? (q ? 1 : 3),
    targets: f.targets ?? [...TARGET_NAMES],
    backend: f.backend,
    scenarios: f.scenarios ?? (q ? ['hello'] : [...SCENARIO_NAMES]),
    rates: f.rates ?? (q ? [10000] : [10000, 30000, 'half-nginx']),
    durationS: f.duration ?? (q ? 3 : 6),
    warmupS: f.warmup ?? (q ? 1 : 2),
    openDurationS: f.openDuration ?? (q ? 3 : 6),
    connections: f.connections,
    routerWorkers: f.routerWorkers ?? (q ? [1] : [1, 2]),
    loadgenThreads: f.loadgenThreads,
    propagationChanges: f.propagationChanges ?? 100,
    routeTableApps: f.routeTable ?? (q ? 0 : 10_000),
    out: f.out,
  };
}

export function parseBenchArgs(argv: string[]): BenchConfig {
  const p = benchProgram().exitOverride();
  p.parse(argv, { from: 'user' });
  return configFrom(p.opts<Flags>());
}
