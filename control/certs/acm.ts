/**
 * Automatic Certificate Management, run by the control leader only: for every
 * app with ACM on, each custom domain gets its own certificate over ACME
 * (RFC 8555) with HTTP-01 challenges, through the `acme-client` library.
 *
 * One pass (`tick`, every `pollMs`, never two at once), per app with `acm/{app}`
 * enabled, per custom domain, issue when:
 *   - there is no ACM certificate for it yet (status `pending`), or
 *   - its ACM certificate expires within `renewBeforeMs` (30 days), or
 *   - the app's `refreshNonce` moved since the domain was last issued (certs:auto:refresh),
 * and it is not failing with `nextAttemptAt` still ahead (backoff 1, 2, 4... x
 * `backoffMs`, at most a day; a refresh skips the wait).
 *
 * Issuing one domain: new order -> for its authorization, the HTTP-01 key
 * authorization goes to `routing/acme/{token}` (every router answers it on
 * /.well-known/acme-challenge/ before routing) -> wait `propagationMs` -> tell
 * the CA to validate -> wait for valid -> finalize with a CSR of a new P-256 key
 * -> download the chain -> check it like certs:add -> store as
 * `routing/certs/{app}/acm-...` (source acm), which every router serves within
 * the watch's propagation bound. The challenge key is deleted whatever happens.
 * Status `cert issued` or `failing` with the CA's reason goes to `acm/{app}`.
 * ACM certificates of domains the app no longer has are removed.
 *
 * The ACME account key is this instance's (`<data dir>/acme-account.key`, 0600),
 * registered once per process; a new leader uses its own.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:https';
import type { Client as AcmeClient } from 'acme-client';
import type { Cluster, EntryOf } from '../../cluster/client.ts';
import type { Acm, AcmDomain } from '../../cluster/records.ts';
import type { Logger } from '../../lib/log.ts';
import { changeAcm } from './acm-state.ts';
import { addCert, updateCert } from './store.ts';
import { checkCertificate } from './validate.ts';


export interface AcmOptions {
  directoryUrl: string;
  /** Contact for the ACME account (expiry notices from the CA). */
  email?: string;
  /** Extra CA certificates (PEM) to trust for the ACME directory's HTTPS (pebble in tests). */
  caPem?: string;
  /** Where the account key lives. */
  accountKeyFile: string;
  pollMs?: number;
  renewBeforeMs?: number;
  backoffMs?: number;
  /** Wait between writing a challenge answer and asking the CA to validate (routers' watch propagation). */
  propagationMs?: number;
}

const DAY = 86_400_000;

export class AcmManager {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private client: AcmeClient | null = null;
  private active = false;
  private readonly pollMs: number;
  private readonly renewBeforeMs: number;
  private readonly backoffMs: number;
  private readonly propagationMs: number;

  constructor(
    private readonly cluster: Cluster,
    private readonly clusterKey: Buffer,
    private readonly opts: AcmOptions,
    private readonly log: Logger,
  ) {
    this.pollMs = opts.pollMs ?? 10_000;
    this.renewBeforeMs = opts.renewBeforeMs ?? 30 * DAY;
    this.backoffMs = opts.backoffMs ?? 60_000;
    this.propagationMs = opts.propagationMs ?? 1000;
  }

  /** This instance became leader. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.log.info({ directory: this.opts.directoryUrl }, 'acm-started');
    // answers left by a previous leader that died mid-validation are stale now
    void this.cluster.delete(`${this.cluster.keys.prefix}routing/acme/`, { prefix: true }).catch(() => undefined);
    this.schedule(0);
  }

  /** Leadership lost or shutting down: finish the domain in progress, start nothing new. */
  async stop(): Promise<void> {
    this.active = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.running;
  }

  /** Run a pass soon (an API change wants attention). */
  kick(): void {
    if (this.active && this.running === null) this.schedule(0);
  }

  private schedule(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.tick().catch((err) => this.log.error({ err: (err as Error).message }, 'acm-pass-failed')).finally(() => {
        this.running = null;
        if (this.active) this.schedule(this.pollMs);
      });
    }, ms);
    this.timer.unref();
  }

  /** One pass over every app with ACM on. */
  async tick(now = Date.now()): Promise<void> {
    const k = this.cluster.keys;
    const [states, domains, certs] = await Promise.all([this.cluster.list(k.acms()), this.cluster.list(k.domains()), this.cluster.list(k.certs())]);
    const hostsOf = new Map<string, string[]>();
    for (const e of domains.entries) {
      if (e.kind !== 'domain' || e.ref.kind !== 'domain') continue;
      const l = hostsOf.get(e.value.app);
      if (l) l.push(e.ref.host);
      else hostsOf.set(e.value.app, [e.ref.host]);
    }
    const acmCerts = new Map<string, EntryOf<'cert'>>();
    for (const e of certs.entries) if (e.kind === 'cert' && e.value.source === 'acm') acmCerts.set(e.key, e as EntryOf<'cert'>);
    for (const e of states.entries) {
      if (!this.active) return;
      if (e.kind !== 'acm' || !e.value.enabled) continue;
      const app = e.value.app;
      const hosts = (hostsOf.get(app) ?? []).sort();
      await this.removeStale(app, hosts, acmCerts);
      for (const host of hosts) {
        if (!this.active) return;
        const cert = acmCerts.get(k.cert(app, acmCertName(host)));
        const st = e.value.domains[host];
        const why = this.due(e.value, host, st, cert, now);
        if (why === null) continue;
        await this.issue(app, host, cert, e.value.refreshNonce, why);
      }
    }
  }

  /** Why `host` needs a certificate now, or null. */
  private due(s: Acm, host: string, st: AcmDomain | undefined, cert: EntryOf<'cert'> | undefined, now: number): string | null {
    const refresh = (st?.refreshed ?? 0) < s.refreshNonce;
    if (st?.status === 'failing' && now < st.nextAttemptAt && !refresh) return null;
    if (!cert) return 'new';
    if (refresh) return 'refresh';
    if (cert.value.notAfter - now < this.renewBeforeMs) return 'renewal';
    if (st?.status !== 'cert issued') return 'status';
    return null;
  }

  /**
   * ACM certificates of hosts that are no longer the app's domains go, one txn each:
   * keys: routing/certs/{app}/{name}; compare: its mod revision is what we listed; result: deleted (else left for the next pass).
   */
  private async removeStale(app: string, hosts: string[], acmCerts: Map<string, EntryOf<'cert'>>): Promise<void> {
    const want = new Set(hosts.map(acmCertName));
    for (const [key, c] of acmCerts) {
      if (c.value.app !== app || want.has(c.value.name)) continue;
      await this.cluster.txn([{ key, target: 'mod', op: '==', value: c.modRevision }], [{ del: key }]);
      this.log.info({ app, cert: c.value.name }, 'acm-cert-removed-domain-gone');
    }
    await changeAcm(this.cluster, app, (cur) => {
      const extra = Object.keys(cur.domains).filter((h) => !hosts.includes(h));
      if (extra.length === 0) return null;
      const domains = { ...cur.domains };
      for (const h of extra) delete domains[h];
      return { ...cur, domains };
    }).catch(() => undefined);
  }

  private async issue(app: string, host: string, current: EntryOf<'cert'> | undefined, nonce: number, why: string): Promise<void> {
    const started = Date.now();
    this.log.info({ app, host, why }, 'acm-issuing');
    if (!current) await this.setStatus(app, host, (st) => ({ ...st, status: st.status === 'failing' ? 'failing' : 'pending' }));
    try {
      const { chain, key } = await this.order(app, host);
      const facts = checkCertificate(chain, key);
      // a certificate stored between our list and now (another pass, a restart) is replaced, not duplicated
      const fresh = (await this.cluster.get(this.cluster.keys.cert(app, acmCertName(host)))) ?? current;
      if (fresh) await updateCert(this.cluster, this.clusterKey, app, fresh, facts, 'acm');
      else await addCert(this.cluster, this.clusterKey, app, facts, 'acm', acmCertName(host));
      await this.setStatus(app, host, () => ({ status: 'cert issued', reason: '', updatedAt: Date.now(), nextAttemptAt: 0, failures: 0, refreshed: nonce }));
      this.log.info({ app, host, why, notAfter: new Date(facts.notAfter).toISOString(), ms: Date.now() - started }, 'acm-cert-issued');
    } catch (err) {
      const reason = problem(err);
      await this.setStatus(app, host, (st) => {
        const failures = (st.failures ?? 0) + 1;
        const wait = Math.min(this.backoffMs * 2 ** (failures - 1), DAY);
        return { status: 'failing', reason, updatedAt: Date.now(), nextAttemptAt: Date.now() + wait, failures, refreshed: nonce };
      });
      this.log.warn({ app, host, why, reason, ms: Date.now() - started }, 'acm-cert-failing');
    }
  }

  private async setStatus(app: string, host: string, next: (cur: AcmDomain) => AcmDomain): Promise<void> {
    await changeAcm(this.cluster, app, (cur) => {
      if (!cur.enabled) return null;
      const st = cur.domains[host] ?? { status: 'pending', reason: '', updatedAt: Date.now(), nextAttemptAt: 0, failures: 0 };
      return { ...cur, domains: { ...cur.domains, [host]: { ...next(st), updatedAt: Date.now() } } };
    }).catch((err) => this.log.warn({ app, host, err: (err as Error).message }, 'acm-status-not-written'));
  }

  /** The ACME exchange for one host: returns the chain (PEM) and its new private key. */
  private async order(app: string, host: string): Promise<{ chain: string; key: string }> {
    const client = await this.account();
    const order = await client.createOrder({ identifiers: [{ type: 'dns', value: host }] });
    const authzs = await client.getAuthorizations(order);
    for (const authz of authzs) {
      if (authz.status === 'valid') continue;
      const challenge = authz.challenges.find((c) => c.type === 'http-01');
      if (!challenge) throw new Error(`the CA offers no http-01 challenge for ${authz.identifier.value}`);
      const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
      const key = this.cluster.keys.acmeChallenge(challenge.token);
      await this.cluster.put(key, { token: challenge.token, keyAuthorization, app, host, createdAt: Date.now() });
      try {
        await new Promise((r) => setTimeout(r, this.propagationMs));
        await client.completeChallenge(challenge);
        await client.waitForValidStatus(challenge);
      } finally {
        await this.cluster.delete(key).catch(() => undefined);
      }
    }
    const acme = await acmeClient();
    const [keyBuf, csr] = await acme.crypto.createCsr({ commonName: host, altNames: [host] }, await acme.crypto.createPrivateEcdsaKey('P-256'));
    const ready = await client.waitForValidStatus(await client.finalizeOrder(order, csr));
    const chain = await client.getCertificate(ready);
    return { chain, key: keyBuf.toString() };
  }

  private async account(): Promise<AcmeClient> {
    if (this.client) return this.client;
    const acme = await acmeClient();
    if (this.opts.caPem) acme.axios.defaults.httpsAgent = new Agent({ ca: this.opts.caPem });
    const f = this.opts.accountKeyFile;
    let accountKey: string;
    if (existsSync(f)) accountKey = readFileSync(f, 'utf8');
    else {
      accountKey = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
      writeFileSync(f, accountKey, { mode: 0o600 });
    }
    const client = new acme.Client({ directoryUrl: this.opts.directoryUrl, accountKey, backoffAttempts: 10, backoffMin: 200, backoffMax: 3000 });
    await client.createAccount({ termsOfServiceAgreed: true, ...(this.opts.email ? { contact: [`mailto:${this.opts.email}`] } : {}) });
    this.log.info({ directory: this.opts.directoryUrl, account: client.getAccountUrl() }, 'acm-account-ready');
    return (this.client = client);
  }
}

/** The ACME client and its HTTP stack, loaded on the first order: most control instances never order. */
const acmeClient = () => import('acme-client');

/** `routing/certs/{app}/acm-www-example-com` (a hash when the host is too long for a name). */
export function acmCertName(host: string): string {
  const n = 'acm-' + host.replace(/\./g, '-').replace(/[^a-z0-9-]/g, '');
  return n.length <= 63 ? n : 'acm-' + createHash('sha256').update(host).digest('hex').slice(0, 20);
}

/** The CA's problem detail in one line (acme-client puts it in the message). */
function problem(err: unknown): string {
  const e = err as Error & { response?: { data?: { detail?: string } } };
  const msg = e.response?.data?.detail ?? e.message ?? String(err);
  return msg.replace(/\s+/g, ' ').trim().slice(0, 300);
}
