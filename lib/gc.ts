/**
 * One full garbage collection, on request, without starting node with --expose-gc.
 *
 * For moments a daemon knows it just dropped a lot: the router's first etcd list of a
 * big cluster leaves ~60 MB of decoded pages in the old generation, and an idle router
 * allocates too little for V8 to ever collect them, so they stay resident (measured:
 * 250 MB RSS for a table that needs 66 MB of heap). Not for hot paths: a full GC of a
 * big heap pauses the thread for tens of milliseconds.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (gc === undefined) {
    // --expose-gc only affects contexts created after it is set, hence the new context.
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  // No options: on node 20 gc({ type: 'major', ... }) from here silently collects nothing (measured).
  gc();
}
