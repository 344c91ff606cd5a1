/** What machine and software the numbers came from, for the report header. */
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, release, totalmem } from 'node:os';

function firstLine(cmd: string, args: string[]): string | undefined {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) return undefined;
  return (r.stdout + r.stderr).trim().split('\n')[0]?.trim() || undefined;
}

export function machineInfo(): Record<string, unknown> {
  const lscpu = spawnSync('lscpu', [], { encoding: 'utf8' }).stdout ?? '';
  const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'm').exec(lscpu)?.[1]?.trim();
  return {
    date: new Date().toISOString(),
    cpu: field('Model name') ?? cpus()[0]?.model,
    cores: cpus().length, // not availableParallelism(): the bench pins itself to one core
    hypervisor: field('Hypervisor vendor'),
    mem_gb: Math.round(totalmem() / 2 ** 30),
    kernel: release(),
    node: process.version,
    nginx: firstLine('nginx', ['-v'])?.replace('nginx version: ', ''),
    haproxy: firstLine('haproxy', ['-v'])?.replace(/ - https.*$/, ''),
    caddy: firstLine('caddy', ['version'])?.split(' ')[0],
    wrk: firstLine('wrk', ['-v'])?.replace(/ \[.*$/, ''),
    loadavg_at_start: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
