/**
 * @module cluster: the contract every dynomesh process shares through etcd.
 * Keys (`keys.ts`), records and their versions (`records.ts`), codecs (`codec.ts`),
 * a typed client (`client.ts`), prefix watches with resume (`watch.ts`), lease
 * sessions (`session.ts`) and leader election (`election.ts`).
 */
export * from './client.ts';
export * from './codec.ts';
export * from './config.ts';
export * from './election.ts';
export * from './errors.ts';
export * from './etcd-server.ts';
export * from './keys.ts';
export * from './records.ts';
export * from './sealed.ts';
export * from './session.ts';
export * from './watch.ts';
export * from './ops.ts';
