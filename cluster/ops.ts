/**
 * Atomic operations that more than one process relies on. Each is one etcd
 * transaction; the header of each names its keys, arguments and result.
 */
import type { Cluster, Compare } from './client.ts';
import { ConflictError } from './errors.ts';
import type { Release } from './records.ts';

/**
 * createRelease: append release v(N+1) to an app and move `current` to it.
 *   keys:    current/{app}, releases/{app}/{N+1}
 *   args:    the release body without its version; optional fence compares (leader, app exists)
 *   compare: current's mod revision is what we read (0 if absent), release N+1 does not exist, fences hold
 *   result:  the new version; ConflictError when another writer won (`tryCreateRelease`),
 *            or after `attempts` losses (`createRelease` retries, so concurrent writers get consecutive versions)
 */
export async function tryCreateRelease(
  cluster: Cluster,
  app: string,
  body: Omit<Release, 'version' | 'app'>,
  fence: Compare[] = [],
): Promise<Release> {
  const k = cluster.keys;
  const cur = await cluster.get(k.current(app));
  const version = (cur?.value.version ?? 0) + 1;
  const release: Release = { ...body, app, version };
  const ok = await cluster.txn(
    [
      { key: k.current(app), target: 'mod', op: '==', value: cur?.modRevision ?? 0 },
      { key: k.release(app, version), target: 'create', op: '==', value: 0 },
      ...fence,
    ],
    [
      { put: k.release(app, version), value: cluster.value(k.release(app, version), release) },
      { put: k.current(app), value: cluster.value(k.current(app), { version }) },
    ],
  );
  if (!ok.succeeded) throw new ConflictError(`release v${version} of ${app} was created concurrently`);
  return release;
}

export async function createRelease(
  cluster: Cluster,
  app: string,
  body: Omit<Release, 'version' | 'app'>,
  fence: Compare[] = [],
  attempts = 50,
): Promise<Release> {
  for (let i = 0; ; i++) {
    try {
      return await tryCreateRelease(cluster, app, body, fence);
    } catch (err) {
      if (!(err instanceof ConflictError) || i + 1 >= attempts) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 ** i)));
    }
  }
}
