import type { Cluster } from '../../cluster/client.ts';

/** Every key and mod revision under the prefix: equal before and after means nothing was written. */
export async function dumpKeys(cluster: Cluster): Promise<Record<string, string>> {
  const all = await cluster.etcd.getAll().prefix(cluster.keys.prefix).exec();
  return Object.fromEntries(all.kvs.map((kv) => [kv.key.toString(), String(kv.mod_revision)]));
}
