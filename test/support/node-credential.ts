/** A dyno-node for a test cluster, enrolled as `dynomesh nodes:enroll` does it. */
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { enrolNode, writeNodeCredential } from '../../cluster/node-credential.ts';
import { loadClusterKey } from '../../cluster/sealed.ts';

/** Enrols `node` and writes its credential where a dyno-node looks by default (`<dataDir>/node.credential`); returns the path. */
export async function enrolInto(cluster: Cluster, clusterKeyFile: string, node: string, dataDir: string): Promise<string> {
  const path = join(dataDir, 'node.credential');
  writeNodeCredential(path, await enrolNode(cluster, loadClusterKey(clusterKeyFile), node, 'test'));
  return path;
}
