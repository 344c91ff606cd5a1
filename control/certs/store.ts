/**
 * An app's TLS certificates (Heroku's SNI endpoints): `routing/certs/{app}/{name}`,
 * the chain in clear, the private key sealed as config vars are (`{key: pem}`), with
 * the certificates key derived from the cluster key (cluster/certs-key.ts): routers
 * hold only that one. Routers watch `routing/` and serve each certificate by SNI
 * for the app's hosts it covers (router/tls/).
 *
 * Transactions (each one round trip, compare on the app's create revision so a
 * destroyed app gets nothing):
 *   add:    app exists, `routing/certs/{app}/{name}` absent -> put it
 *   update: app exists, the cert's mod revision unchanged   -> put the new chain/key, same name
 *   remove: the cert's mod revision unchanged                -> delete it
 */
import { randomInt } from 'node:crypto';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import type { Cert } from '../../cluster/records.ts';
import { seal } from '../../cluster/sealed.ts';
import { deriveCertsKey } from '../../cluster/certs-key.ts';
import { isHostname } from '../../cluster/keys.ts';
import { appNotFound, conflict, notFound } from '../errors.ts';
import type { CertFacts } from './validate.ts';

/** Heroku names SNI endpoints after Japanese cities. */
const CITIES = ['tokyo', 'kyoto', 'osaka', 'nara', 'kobe', 'sapporo', 'sendai', 'nagoya', 'fukuoka', 'hiroshima', 'yokohama', 'kagoshima'];

export function newCertName(): string {
  return `${CITIES[randomInt(CITIES.length)]}-${randomInt(10_000, 100_000)}`;
}

/** The record for a checked certificate, its key sealed with the certificates key derived from `clusterKey`. */
export function certRecord(clusterKey: Buffer, app: string, name: string, f: CertFacts, source: Cert['source'], createdAt: number, now = Date.now()): Cert {
  return {
    app, name, chain: f.chain, key: seal(deriveCertsKey(clusterKey), { key: f.keyPem }), domains: f.domains,
    notBefore: f.notBefore, notAfter: f.notAfter, source, issuer: f.issuer, subject: f.subject, selfSigned: f.selfSigned,
    createdAt, updatedAt: now,
  };
}

export async function listCerts(cluster: Cluster, app: string): Promise<EntryOf<'cert'>[]> {
  const k = cluster.keys;
  const [a, all] = await Promise.all([cluster.get(k.app(app)), cluster.list(k.certsOf(app))]);
  if (!a) throw appNotFound(app);
  return (all.entries as EntryOf<'cert'>[]).filter((e) => e.kind === 'cert').sort((x, y) => x.value.createdAt - y.value.createdAt);
}

/** One certificate by name, or by one of its domains (as `certs:info --name` / a hostname). */
export async function findCert(cluster: Cluster, app: string, nameOrDomain: string): Promise<EntryOf<'cert'>> {
  const all = await listCerts(cluster, app);
  const want = nameOrDomain.toLowerCase();
  const hit = all.find((e) => e.value.name === want) ?? all.find((e) => e.value.domains.includes(want));
  if (!hit) throw notFound(`${app} has no certificate ${nameOrDomain}; list them with \`dynomesh certs -a ${app}\``);
  return hit;
}

/**
 *   keys:    routing/certs/{app}/{name}
 *   compare: the app's create revision is what we read, the name is free
 *   result:  the record; 409 when the name is taken, 404 when the app went
 */
export async function addCert(cluster: Cluster, clusterKey: Buffer, app: string, f: CertFacts, source: Cert['source'] = 'manual', name = newCertName()): Promise<Cert> {
  const k = cluster.keys;
  const a = await cluster.get(k.app(app));
  if (!a) throw appNotFound(app);
  const rec = certRecord(clusterKey, app, name, f, source, Date.now());
  const r = await cluster.txn(
    [
      { key: k.app(app), target: 'create', op: '==', value: a.createRevision },
      { key: k.cert(app, name), target: 'create', op: '==', value: 0 },
    ],
    [{ put: k.cert(app, name), value: cluster.value(k.cert(app, name), rec) }],
  );
  if (!r.succeeded) {
    if (!(await cluster.get(k.app(app)))) throw appNotFound(app);
    throw conflict(`${app} already has a certificate named ${name}`);
  }
  return rec;
}

/**
 *   keys:    routing/certs/{app}/{name}
 *   compare: the app's create revision and the cert's mod revision are what we read
 *   result:  the new record; 409 when it changed meanwhile
 */
export async function updateCert(cluster: Cluster, clusterKey: Buffer, app: string, current: EntryOf<'cert'>, f: CertFacts, source: Cert['source'] = current.value.source): Promise<Cert> {
  const k = cluster.keys;
  const a = await cluster.get(k.app(app));
  if (!a) throw appNotFound(app);
  const rec = certRecord(clusterKey, app, current.value.name, f, source, current.value.createdAt);
  const key = k.cert(app, current.value.name);
  const r = await cluster.txn(
    [
      { key: k.app(app), target: 'create', op: '==', value: a.createRevision },
      { key, target: 'mod', op: '==', value: current.modRevision },
    ],
    [{ put: key, value: cluster.value(key, rec) }],
  );
  if (!r.succeeded) throw conflict(`certificate ${current.value.name} changed while updating it; try again`);
  return rec;
}

/**
 *   keys:    routing/certs/{app}/{name}
 *   compare: its mod revision is what we read
 *   result:  deleted; 409 when it changed meanwhile
 */
export async function removeCert(cluster: Cluster, current: EntryOf<'cert'>): Promise<void> {
  const key = current.key;
  const r = await cluster.txn([{ key, target: 'mod', op: '==', value: current.modRevision }], [{ del: key }]);
  if (!r.succeeded) throw conflict(`certificate ${current.value.name} changed while removing it; try again`);
}

/** Which of the app's hosts (default + custom) a certificate's names cover, as the routers decide (router/tls/select.ts). */
export function coveredHosts(domains: readonly string[], hosts: readonly string[]): string[] {
  return hosts.filter((h) => isHostname(h) && domains.some((n) => n === h || (n.startsWith('*.') && h.slice(h.indexOf('.') + 1) === n.slice(2) && h.indexOf('.') > 0)));
}
