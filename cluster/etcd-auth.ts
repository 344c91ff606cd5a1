/**
 * One etcd user and role per daemon, so a stolen credential opens only what
 * that daemon needs (users are certificate CNs, pki.ts; no passwords):
 *
 *   dynomesh-control       readwrite on the whole prefix
 *   dynomesh-router        read routing/ and control/members/ (log service addresses)
 *   dynomesh-node-<id>     readwrite nodes/<id>; read dynos/<id>/ (its placements: only controls
 *                          write them, and a control serves a node what they name);
 *                          readwrite status/<id>/ and routing/endpoints/<id>/ (its dynos' state and endpoints);
 *                          read control/members/ (releases come from a control, limited to
 *                          those placed on the node: control/node-access.ts)
 *   root                   etcd's own administrator (needed to turn auth on); `up` keeps its cert
 *
 * Every role may also read the prefix key itself (Cluster.revision() reads it).
 *
 * Applied with etcdctl as root, idempotently: an existing role, user or grant is kept.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { ClientCert } from './pki.ts';
import { ClusterError } from './errors.ts';

const run = promisify(execFile);

export const CONTROL_USER = 'dynomesh-control';
export const ROUTER_USER = 'dynomesh-router';
export const nodeUser = (id: string): string => `dynomesh-node-${id.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`;

type Grant = [perm: 'read' | 'readwrite', key: string, prefix: boolean];

export function grantsFor(prefix: string): { control: Grant[]; router: Grant[]; node: (id: string) => Grant[] } {
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  const base: Grant = ['read', p, false];
  return {
    control: [['readwrite', p, true]],
    router: [base, ['read', `${p}routing/`, true], ['read', `${p}control/members/`, true]],
    node: (id) => [
      base,
      ['readwrite', `${p}nodes/${id}`, false],
      ['read', `${p}dynos/${id}/`, true],
      ['readwrite', `${p}status/${id}/`, true],
      ['readwrite', `${p}routing/endpoints/${id}/`, true],
      // dyno usage: its own runs, open and ended (the leader moves ended ones into usage/: cluster/usage.ts)
      ['readwrite', `${p}usage-open/${id}/`, true],
      ['read', `${p}control/members/`, true],
    ],
  };
}

async function etcdctl(endpoint: string, root: ClientCert, args: string[]): Promise<string> {
  try {
    const { stdout } = await run('etcdctl', ['--endpoints', endpoint, '--cacert', root.ca, '--cert', root.cert, '--key', root.key, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' }, timeout: 15_000,
    });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new ClusterError('DM_ETCD_AUTH', 'etcdctl is not installed (apt-get install -y etcd-client); it sets up the etcd roles');
    const msg = (e.stderr ?? e.message).trim().split('\n').pop() ?? '';
    if (/already exists|role is already granted|user is already granted|permission is not granted/i.test(msg)) return '';
    throw new ClusterError('DM_ETCD_AUTH', `etcdctl ${args.slice(0, 2).join(' ')} failed: ${msg}`);
  }
}

/**
 * What older versions granted a node and this one does not: status/ and routing/endpoints/ of
 * every app (before they were keyed by node) and releases/. Revoked on every setup, so a second
 * `up` narrows an existing role (its placements go from readwrite to read by the grant itself).
 */
const legacyNodeGrants = (prefix: string): string[] => ['status/', 'routing/endpoints/', 'releases/'].map((k) => prefix + k);

async function ensureUser(endpoint: string, root: ClientCert, user: string, grants: Grant[]): Promise<void> {
  await etcdctl(endpoint, root, ['role', 'add', user]);
  for (const [perm, key, prefix] of grants) await etcdctl(endpoint, root, ['role', 'grant-permission', user, perm, key, ...(prefix ? ['--prefix=true'] : [])]);
  await etcdctl(endpoint, root, ['user', 'add', user, '--no-password']);
  await etcdctl(endpoint, root, ['user', 'grant-role', user, user]);
}

/** Creates root, the control and router users and one user per node id, then turns auth on. */
export async function setupEtcdAuth(endpoint: string, root: ClientCert, prefix: string, nodeIds: string[]): Promise<void> {
  const g = grantsFor(prefix);
  await etcdctl(endpoint, root, ['user', 'add', 'root', '--no-password']);
  await etcdctl(endpoint, root, ['user', 'grant-role', 'root', 'root']);
  await ensureUser(endpoint, root, CONTROL_USER, g.control);
  await ensureUser(endpoint, root, ROUTER_USER, g.router);
  const p = prefix.endsWith('/') ? prefix : prefix + '/';
  for (const id of nodeIds) {
    await ensureUser(endpoint, root, nodeUser(id), g.node(id));
    for (const key of legacyNodeGrants(p)) await etcdctl(endpoint, root, ['role', 'revoke-permission', nodeUser(id), key, '--prefix=true']);
  }
  if (!/Authentication Status: true/.test(await etcdctl(endpoint, root, ['auth', 'status']))) await etcdctl(endpoint, root, ['auth', 'enable']);
}
