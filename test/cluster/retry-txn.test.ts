/**
 * retryTxn against a real etcd: a read-modify-write that loses to a concurrent writer
 * reads again and commits on top of that writer's value; one that keeps losing ends
 * with a ConflictError naming what failed, after the one attempts policy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Cluster } from '../../cluster/client.ts';
import { ConflictError } from '../../cluster/errors.ts';
import type { Formation } from '../../cluster/records.ts';
import { retryTxn, TXN_RETRY } from '../../cluster/retry-txn.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();

const web = (quantity: number): Formation => ({ types: { web: { quantity, size: 'standard-1x' } } });

/** Adds one web dyno to the formation; `meanwhile` runs between the read and the txn. */
function addWeb(cluster: Cluster, attempts: number[], meanwhile: (attempt: number) => Promise<void>) {
  const key = cluster.keys.formation('shop');
  return retryTxn(cluster, 'shop kept changing; try again', async (attempt) => {
    attempts.push(attempt);
    const cur = await cluster.get(key);
    const next = web((cur?.value.types.web?.quantity ?? 0) + 1);
    await meanwhile(attempt);
    return {
      compares: [{ key, target: 'mod', op: '==', value: cur?.modRevision ?? 0 }],
      ops: [{ put: key, value: cluster.value(key, next) }],
      result: next,
    };
  });
}

test('a lost race is read again and commits on top of the other writer', async () => {
  const cluster = etcd.cluster();
  const key = cluster.keys.formation('shop');
  await cluster.put(key, web(1));
  const attempts: number[] = [];
  // The other writer sets 10 between our first read and our txn.
  const result = await addWeb(cluster, attempts, async (attempt) => {
    if (attempt === 0) await cluster.put(key, web(10));
  });
  assert.deepEqual(attempts, [0, 1]);
  assert.equal(result.types.web?.quantity, 11);
  assert.equal((await cluster.get(key))?.value.types.web?.quantity, 11, 'the other writer\'s change is kept, ours is on top');
});

test('a read that finds nothing to do returns without writing', async () => {
  const cluster = etcd.cluster();
  const key = cluster.keys.formation('shop');
  const rev = await cluster.put(key, web(3));
  const got = await retryTxn(cluster, 'unused', async () => ({ done: 'nothing to do' }));
  assert.equal(got, 'nothing to do');
  assert.equal((await cluster.get(key))?.modRevision, rev);
});

test('an error thrown by the read ends it at once, not retried', async () => {
  const cluster = etcd.cluster();
  let reads = 0;
  await assert.rejects(
    retryTxn(cluster, 'unused', async () => {
      reads++;
      throw new Error('no such app');
    }),
    /no such app/,
  );
  assert.equal(reads, 1);
});

test('a writer that always wins exhausts the attempts: a ConflictError that says what and how often', async () => {
  const cluster = etcd.cluster();
  const key = cluster.keys.formation('shop');
  await cluster.put(key, web(1));
  const attempts: number[] = [];
  let other = 100;
  const err = await addWeb(cluster, attempts, async () => {
    await cluster.put(key, web(++other));
  }).then(
    () => assert.fail('a txn that always loses must not succeed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ConflictError, `expected a ConflictError, got ${String(err)}`);
  assert.equal(err.code, 'DM_CONFLICT');
  assert.match(err.message, new RegExp(`^shop kept changing; try again \\(${TXN_RETRY.attempts} attempts lost to concurrent writers\\)$`));
  assert.equal(attempts.length, TXN_RETRY.attempts);
  assert.equal((await cluster.get(key))?.value.types.web?.quantity, other, 'only the other writer\'s values were stored');
});
