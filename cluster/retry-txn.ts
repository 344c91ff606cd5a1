/**
 * Read-modify-write against etcd: `read` looks at the keys and says what to write and
 * on which conditions; when a concurrent writer got there first (a compare fails), the
 * whole read is redone after a jittered pause. Every compare-and-swap loop of dynomesh
 * goes through here, so all of them share one attempts policy.
 */
import { Backoff } from '../lib/backoff.ts';
import type { Cluster, Compare, Op } from './client.ts';
import { ConflictError } from './errors.ts';

/** One attempt: write `ops` if every compare holds; the caller then gets `result`. */
export interface TxnPlan<T> {
  compares: Compare[];
  ops: Op[];
  result: T;
}

/** Nothing to write (the work is done already, or there is none): the caller gets `done` at once. */
export interface TxnDone<T> {
  done: T;
}

/**
 * The one policy: this many attempts, pauses doubling from 5 ms to 200 ms (each drawn from
 * the upper half of its step). Enough for two control instances taking turns on one app
 * (tens of writers), bounded so a caller hears "try again" within seconds, not never.
 */
export const TXN_RETRY = { attempts: 30, initialMs: 5, maxMs: 200 } as const;

/**
 * Runs `read` -> txn until a txn commits or `read` returns `{ done }`; `read` gets the attempt
 * number (0 first) and may throw to give up (not found, invalid). After `TXN_RETRY.attempts`
 * lost races it throws a ConflictError whose message is `conflict` (the API answers 409).
 */
export async function retryTxn<T>(
  cluster: Pick<Cluster, 'txn'>,
  conflict: string,
  read: (attempt: number) => Promise<TxnPlan<T> | TxnDone<T>>,
  random: () => number = Math.random,
): Promise<T> {
  const backoff = new Backoff(TXN_RETRY.initialMs, TXN_RETRY.maxMs, random);
  for (let attempt = 0; attempt < TXN_RETRY.attempts; attempt++) {
    if (attempt > 0) await new Promise((r) => setTimeout(r, backoff.next()));
    const plan = await read(attempt);
    if ('done' in plan) return plan.done;
    if ((await cluster.txn(plan.compares, plan.ops)).succeeded) return plan.result;
  }
  throw new ConflictError(`${conflict} (${TXN_RETRY.attempts} attempts lost to concurrent writers)`);
}
