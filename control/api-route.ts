/**
 * The Platform API and git through the routers (`--api-domain api.example.com`):
 * every control instance registers its API address as an endpoint of the
 * internal routing app `dynomesh-api`, on a lease of its own, and makes sure the
 * routers route the API domain to it. Clients then reach the API and git at
 * `https://<api-domain>` over the routers' TLS (a certificate for that name:
 * the routers' --tls-cert, e.g. a wildcard for the base domain), so tokens never
 * cross a network in clear text.
 *
 * Keys (routers read them like any app's):
 *   routing/apps/dynomesh-api                  created if absent (affinity random)
 *   routing/domains/{api-domain}               created if absent (a user's domain of that name wins: refused at start)
 *   routing/endpoints/{member id}/dynomesh-api/control.N   this instance's API host:port, on its lease (N from its member id)
 * `dynomesh-api` is reserved: no app may take the name (control/apps.ts).
 */
import { createHash } from 'node:crypto';
import type { Cluster } from '../cluster/client.ts';
import { Session } from '../cluster/session.ts';
import type { Logger } from '../lib/log.ts';

export const API_APP = 'dynomesh-api';

export class ApiRoute {
  private session: Session | undefined;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(
    private readonly cluster: Cluster,
    private readonly o: { domain: string; memberId: string; host: string; port: number; ttlSeconds: number },
    private readonly log: Logger,
  ) {}

  /** Registers once (throws when the domain belongs to an app), then keeps the registration across lost leases. */
  async start(): Promise<void> {
    await this.ensureRoute();
    await this.register();
    this.loop = this.keep();
  }

  /**
   * The API's own route, two put-if-absent transactions:
   *
   *   keys:    routing/apps/{api app}, then routing/domains/{--api-domain}
   *   compare: the key does not exist (another instance may have written it first: kept)
   *   result:  both exist; the domain must point at the API app, else start fails
   */
  private async ensureRoute(): Promise<void> {
    const k = this.cluster.keys;
    await this.cluster.txn([{ key: k.routingApp(API_APP), target: 'create', op: '==', value: 0 }],
      [{ put: k.routingApp(API_APP), value: this.cluster.value(k.routingApp(API_APP), { app: API_APP, affinity: 'random', balanceFactor: 1.25, maintenance: false }) }]);
    await this.cluster.txn([{ key: k.domain(this.o.domain), target: 'create', op: '==', value: 0 }],
      [{ put: k.domain(this.o.domain), value: this.cluster.value(k.domain(this.o.domain), { app: API_APP }) }]);
    const d = await this.cluster.get(k.domain(this.o.domain));
    if (d?.value.app !== API_APP) throw new Error(`--api-domain ${this.o.domain} is a domain of the app ${d?.value.app}; pick another name or remove that domain`);
  }

  private async register(): Promise<void> {
    const session = await Session.create(this.cluster, this.o.ttlSeconds);
    this.session = session;
    const n = parseInt(createHash('sha256').update(this.o.memberId).digest('hex').slice(0, 7), 16);
    const dyno = `control.${n}`;
    await session.put(this.cluster.keys.endpoint(this.o.memberId, API_APP, dyno), { app: API_APP, dyno, node: this.o.memberId, host: this.o.host, port: this.o.port, release: 0 });
    this.log.info({ domain: this.o.domain, endpoint: `${this.o.host}:${this.o.port}` }, 'api-route-registered');
  }

  private async keep(): Promise<void> {
    while (!this.stopped) {
      const lost = await this.session!.done;
      if (this.stopped) return;
      this.log.warn({ err: lost.message }, 'api-route-lease-lost');
      for (let wait = 250; !this.stopped; wait = Math.min(wait * 2, 5000)) {
        try {
          await this.register();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, wait));
        }
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.session?.close();
  }
}
