/**
 * @module logplex: the producer side of dynomesh's log pipeline, shared by the
 * router, dyno-node and control (like cluster/, a library, not a daemon).
 *
 * - `record.ts`  the record, Heroku's line format, line splitting, L10/L11 texts
 * - `wire.ts`    msgpackr frames over TCP: handshake, batches, acks, handoffs; frame and line limits
 * - `credential.ts` per-producer credentials (`router:r1`, `node:n1`, `control:c1`) and the handshake proof
 * - `owners.ts`  which log service instance owns an app (rendezvous over control members)
 * - `link.ts`    one connection to one instance: batches in flight until acked
 * - `shipper.ts` `LogShipper.write()`: never blocks, bounded, drops counted as L10
 * - `sinks.ts`   adapters for the router's and dyno-node's sink interfaces
 */
export * from './record.ts';
export * from './wire.ts';
export * from './credential.ts';
export * from './owners.ts';
export * from './shipper.ts';
export * from './sinks.ts';
