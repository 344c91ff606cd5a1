/**
 * Custom domains: `routing/domains/{host}` → app, unique across apps (the create
 * compare makes two concurrent adds of one hostname end with one winner).
 * The default hostname `<app>.<base-domain>` needs no key: the router derives it.
 */
import type { Cluster } from '../cluster/client.ts';
import { isHostname } from '../cluster/keys.ts';
import { appNotFound, conflict, invalid, notFound } from './errors.ts';

export interface DomainInfo {
  hostname: string;
  kind: 'custom' | 'default';
  app: string;
  createdAt: number;
}

export function checkHostname(raw: unknown, baseDomain: string): string {
  if (typeof raw !== 'string' || raw.trim() === '') throw invalid('expected {"hostname": "www.example.com"}');
  const host = raw.trim().toLowerCase().replace(/\.$/, '');
  if (!isHostname(host) || !host.includes('.')) {
    throw invalid(`${JSON.stringify(raw)} is not a valid hostname; use a fully qualified name such as www.example.com`);
  }
  if (host === baseDomain || host.endsWith(`.${baseDomain}`)) {
    throw invalid(`${host} is under the platform's base domain ${baseDomain}; apps get <app>.${baseDomain} automatically`);
  }
  return host;
}

export async function listDomains(cluster: Cluster, app: string, baseDomain: string): Promise<DomainInfo[]> {
  const k = cluster.keys;
  const [a, all] = await Promise.all([cluster.get(k.app(app)), cluster.list(k.domains())]);
  if (!a) throw appNotFound(app);
  const custom = all.entries
    .filter((e) => e.kind === 'domain' && e.value.app === app && e.ref.kind === 'domain')
    .map((e) => ({ hostname: (e.ref as { host: string }).host, kind: 'custom' as const, app, createdAt: a.value.createdAt, rev: e.createRevision }))
    .sort((x, y) => x.hostname.localeCompare(y.hostname))
    .map(({ rev: _rev, ...d }) => d);
  return [{ hostname: `${app}.${baseDomain}`, kind: 'default', app, createdAt: a.value.createdAt }, ...custom];
}

/**
 * A custom domain for the app:
 *
 *   keys:    routing/domains/{host}
 *   compare: the app's create revision is what we read, the domain does not exist
 *   result:  the domain; 409 naming who has it, 404 when the app went
 */
export async function addDomain(cluster: Cluster, app: string, host: string): Promise<DomainInfo> {
  const k = cluster.keys;
  const a = await cluster.get(k.app(app));
  if (!a) throw appNotFound(app);
  const r = await cluster.txn(
    [
      { key: k.app(app), target: 'create', op: '==', value: a.createRevision },
      { key: k.domain(host), target: 'create', op: '==', value: 0 },
    ],
    [{ put: k.domain(host), value: cluster.value(k.domain(host), { app }) }],
  );
  if (!r.succeeded) {
    const owner = await cluster.get(k.domain(host));
    if (!(await cluster.get(k.app(app)))) throw appNotFound(app);
    throw conflict(owner?.value.app === app ? `${host} is already a domain of ${app}` : `${host} is already in use by another app`);
  }
  return { hostname: host, kind: 'custom', app, createdAt: Date.now() };
}

/**
 *   keys:    routing/domains/{host}
 *   compare: its mod revision is what we read (it is this app's)
 *   result:  deleted; 409 when it changed meanwhile
 */
export async function removeDomain(cluster: Cluster, app: string, host: string): Promise<DomainInfo> {
  const k = cluster.keys;
  if (!isHostname(host)) throw notFound(`${host} is not a domain of ${app}`);
  const [a, d] = await Promise.all([cluster.get(k.app(app)), cluster.get(k.domain(host))]);
  if (!a) throw appNotFound(app);
  if (!d || d.value.app !== app) throw notFound(`${host} is not a domain of ${app}; list them with \`dynomesh domains -a ${app}\``);
  const r = await cluster.txn([{ key: k.domain(host), target: 'mod', op: '==', value: d.modRevision }], [{ del: k.domain(host) }]);
  if (!r.succeeded) throw conflict(`${host} changed while removing it; try again`);
  return { hostname: host, kind: 'custom', app, createdAt: a.value.createdAt };
}
