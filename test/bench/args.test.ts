import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { CommanderError } from 'commander';
import { parseBenchArgs, parseRates } from '../../bench/args.ts';

function fails(argv: string[], re: RegExp): void {
  const write = process.stderr.write;
  let said = '';
  process.stderr.write = ((s: string) => { said += s; return true; }) as typeof process.stderr.write;
  try {
    assert.throws(() => parseBenchArgs(argv), (e: unknown) => e instanceof CommanderError && e.exitCode !== 0);
  } finally {
    process.stderr.write = write;
  }
  assert.match(said, re);
}

describe('bench arguments', () => {
  test('defaults: every target and scenario, 3 rounds, rates including half of nginx', () => {
    const c = parseBenchArgs([]);
    assert.deepEqual(c.targets, ['router', 'router-cni', 'floor', 'nginx', 'haproxy', 'caddy', 'direct']);
    assert.equal(c.rounds, 3);
    assert.equal(c.backend, 'uws');
    assert.deepEqual(c.scenarios, ['hello', '16k', '1m', 'post64k', 'conns1000', 'newconn', 'tls', 'tlsnew']);
    assert.deepEqual(c.rates, [10000, 30000, 'half-nginx']);
    assert.deepEqual(c.routerWorkers, [1, 2]);
    assert.equal(c.out, 'bench/results/latest.json');
    assert.equal(c.connections, undefined);
  });

  test('--quick: hello only, one round, short runs; explicit flags still win', () => {
    const q = parseBenchArgs(['--quick']);
    assert.deepEqual(q.scenarios, ['hello']);
    assert.equal(q.rounds, 1);
    assert.ok(q.durationS <= 3 && q.openDurationS <= 3);
    assert.deepEqual(q.rates, [10000]);
    const q2 = parseBenchArgs(['--quick', '--rounds', '2', '--duration', '5s']);
    assert.equal(q2.rounds, 2);
    assert.equal(q2.durationS, 5);
  });

  test('lists, rates, durations and the backend', () => {
    const c = parseBenchArgs(['--targets', 'nginx,direct', '--rates', '10k,30000', '--backend', 'node', '--duration', '15s',
      '--warmup', '0', '--connections', '128', '--router-workers', '1,2,4', '--scenarios', 'hello,1m']);
    assert.deepEqual(c.targets, ['nginx', 'direct']);
    assert.deepEqual(c.rates, [10000, 30000]);
    assert.equal(c.backend, 'node');
    assert.equal(c.durationS, 15);
    assert.equal(c.warmupS, 0);
    assert.equal(c.connections, 128);
    assert.deepEqual(c.routerWorkers, [1, 2, 4]);
    assert.deepEqual(c.scenarios, ['hello', '1m']);
  });

  test('bad input is refused with a line that says what is allowed', () => {
    fails(['--targets', 'nginx,envoy'], /unknown target "envoy"; choose from router, router-cni, floor, nginx, haproxy, caddy, direct/);
    fails(['--backend', 'python'], /python/);
    fails(['--rates', 'fast'], /"fast" is not a rate/);
    fails(['--rounds', '0'], /not a positive whole number/);
    fails(['--duration', '200ms'], /shorter than 1s/);
    fails(['--scenarios', 'hello,2m'], /unknown scenario "2m"/);
  });

  test('rates', () => {
    assert.deepEqual(parseRates('5000, 20k,half-nginx'), [5000, 20000, 'half-nginx']);
    assert.throws(() => parseRates('0'), /not a rate/);
    assert.throws(() => parseRates(','), /expected rates/);
  });
});
