/** The piscina pool that runs `slug-worker.ts`: hashing and unpacking off the event loop. */
import { Piscina } from 'piscina';

export interface SlugPool {
  hash(file: string): Promise<string>;
  unpack(file: string, dest: string, owner?: { uid: number; gid: number }, maxBytes?: number): Promise<{ entries: number; bytes: number }>;
  close(): Promise<void>;
}

export function slugPool(maxThreads = 2): SlugPool {
  const pool = new Piscina({
    // Workers inherit execArgv, and some flags (--input-type, --test) make no sense there.
    execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type') && !a.startsWith('--test') && !a.startsWith('--eval')),
    filename: new URL('./slug-worker.mjs', import.meta.url).href,
    maxThreads,
    minThreads: 0,
    idleTimeout: 30_000,
  });
  return {
    hash: (file) => pool.run({ file }, { name: 'hash' }) as Promise<string>,
    unpack: async (file, dest, owner, maxBytes) => {
      try {
        return (await pool.run({ file, dest, ...owner, ...(maxBytes ? { maxBytes } : {}) }, { name: 'unpack' })) as { entries: number; bytes: number };
      } catch (err) {
        // Errors cross the thread boundary as plain Errors; keep the worker's message, which names the entry.
        throw new Error((err as Error).message);
      }
    },
    close: () => pool.destroy(),
  };
}
