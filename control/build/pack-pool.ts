/** The piscina pool that runs `pack-worker.ts`: one slug at a time per thread, threads only while builds run. */
import { Piscina } from 'piscina';
import type { PackResult, PackTask } from './pack-worker.ts';

export interface PackPool {
  pack(task: PackTask): Promise<PackResult>;
  close(): Promise<void>;
}

export function packPool(maxThreads = 1): PackPool {
  const pool = new Piscina({
    // Workers inherit execArgv, and some flags (--input-type, --test) make no sense there.
    execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--test') && !a.startsWith('--eval')),
    filename: new URL('./pack-worker.mjs', import.meta.url).href,
    maxThreads,
    minThreads: 0,
    idleTimeout: 30_000,
  });
  return {
    pack: async (task) => {
      try {
        return (await pool.run(task, { name: 'pack' })) as PackResult;
      } catch (err) {
        throw new Error((err as Error).message);
      }
    },
    close: () => pool.destroy(),
  };
}
