// Runs test files one at a time in an order shuffled by a seed, so no file can lean on
// another having run first. Node 20's runner has no --test-shuffle and sorts the files it
// is given on the command line; run() keeps the order it gets. Children inherit this
// process's --import flags (tsx, the spawn guard).
//   node --import tsx --import ./test/support/spawn-guard.mjs scripts/run-tests.mjs SEED FILE...
// The same seed and files give the same order (scripts/test.sh prints the seed; DYNOMESH_TEST_SEED replays it).
import { resolve } from 'node:path';
import { run } from 'node:test';
import { tap } from 'node:test/reporters';

const [seedArg, ...files] = process.argv.slice(2);
const seed = Number(seedArg);
if (!Number.isInteger(seed) || seed < 0 || files.length === 0) {
  console.error('usage: run-tests.mjs SEED FILE... (SEED: a whole number)');
  process.exit(2);
}

/** mulberry32: a small seeded generator, the same sequence on every machine. */
function random(a) {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Fisher-Yates over the sorted list, so the order depends on the seed and the set of files only.
const order = [...files].sort();
const next = random(seed);
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(next() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
console.log(`# test order (seed ${seed}): ${order.join(' ')}`);

const stream = run({ files: order.map((f) => resolve(f)), concurrency: 1, timeout: 300_000 });
// A failing test marked todo is reported, not a failure (as `node --test` counts it).
stream.on('test:fail', (data) => {
  if (!data.todo) process.exitCode = 1;
});
stream.compose(tap).pipe(process.stdout);
