/**
 * The HTTPS listener: a uWS SSLApp with one SNI server name per host that has a
 * certificate (router/tls/select.ts picks which), serving the same request path as the HTTP listener (its context says
 * proto=https and the HTTPS port).
 *
 * What the pinned build does (measured, router/README.md "TLS"):
 * - `addServerName(name, files)` loads the key and chain from files at that call;
 *   a name needs its own handlers (`app.domain(name)` then `any`/`ws`), else it
 *   answers nothing. `*.example.com` names work.
 * - A second `addServerName` of the same name keeps the first certificate, and
 *   `removeServerName` followed by a request on a connection that came in under
 *   that name crashes the process (SIGSEGV). So a certificate is never replaced
 *   or removed in place.
 * - With no default certificate, a client whose SNI matches nothing gets a failed
 *   handshake (no certificate); the listener goes on serving everyone else.
 *
 * So every change of the certificate set builds a new *generation*: a fresh
 * SSLApp with every current name, listening on the same port (SO_REUSEPORT),
 * then the previous generation's listen socket closes. Its open connections
 * keep being served by it (uWS closes idle ones after ~10 s) until it is closed
 * `retireMs` later. Changes within `DEBOUNCE_MS` make one generation.
 */
import type { Logger } from 'pino';
import type { ProxyContext } from '../proxy.ts';
import { closeUws, serveAll } from '../server.ts';
import type { TlsMaterial } from '../table/delta.ts';
import { loadUws, type TemplatedApp, type us_listen_socket } from '../uws.ts';
import { KeyFiles } from './key-files.ts';
import type { DevCa } from './dev-ca.ts';

/** TLS 1.2 suites offered (TLS 1.3's are OpenSSL's defaults): ECDHE + AEAD only. TLS 1.0/1.1 are refused by the build. */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const DEBOUNCE_MS = 50;

export interface TlsListenerOptions {
  host: string;
  /** A concrete port (see `freePort`): every generation binds the same one. */
  port: number;
  /** Operator files served when no SNI name matches (e.g. a wildcard for the base domain); none: the handshake fails. */
  defaultCert?: { certFile: string; keyFile: string };
  /** How long a replaced generation keeps serving its open connections. */
  retireMs: number;
  connectTimeoutMs: number;
  /** Mints certificates for routed hosts that have none (development: `dynomesh up`). */
  devCa?: DevCa;
}

/** What a generation is built from: certificates by host, and every routed host (for the development CA). */
export interface TlsWanted {
  certs: ReadonlyMap<string, TlsMaterial>;
  hosts: readonly string[];
}

interface Generation {
  app: TemplatedApp;
  socket: us_listen_socket | null;
  names: number;
}

export class TlsListener {
  private current: Generation | null = null;
  private readonly retiring = new Map<TemplatedApp, NodeJS.Timeout>();
  private readonly keys = new KeyFiles();
  private timer: NodeJS.Timeout | null = null;
  private wanted: (() => TlsWanted) | null = null;
  private closed = false;

  constructor(private readonly ctx: ProxyContext, private readonly opts: TlsListenerOptions, private readonly log: Logger) {}

  /** First generation; throws when the port cannot be bound. */
  async start(wanted: TlsWanted): Promise<void> {
    const gen = this.build(await this.withMinted(wanted));
    if (!this.listen(gen)) {
      closeUws(gen.app);
      throw new Error(`cannot listen on ${this.opts.host}:${this.opts.port} for HTTPS (in use or not permitted); pick another --https-port`);
    }
    this.current = gen;
    this.log.info({ port: this.opts.port, names: gen.names }, 'tls-listening');
  }

  /** The certificate set changed: a new generation within DEBOUNCE_MS, built from what `wanted()` returns then. */
  update(wanted: () => TlsWanted): void {
    this.wanted = wanted;
    if (this.timer !== null || this.closed) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      const get = this.wanted;
      this.wanted = null;
      if (get === null || this.closed || this.current === null) return;
      void this.withMinted(get()).then((certs) => {
        if (!this.closed) this.swap(certs);
      }, (err: Error) => this.log.error({ err: err.message }, 'tls-dev-ca-mint-failed'));
    }, DEBOUNCE_MS);
  }

  /** The certificates, plus minted ones for hosts without any when a development CA is set. */
  private async withMinted(w: TlsWanted): Promise<ReadonlyMap<string, TlsMaterial>> {
    const ca = this.opts.devCa;
    if (!ca) return w.certs;
    const missing = w.hosts.filter((h) => !w.certs.has(h));
    if (missing.length === 0) return w.certs;
    const out = new Map(w.certs);
    for (const [h, c] of await ca.certsFor(missing)) out.set(h, c);
    return out;
  }

  private swap(certs: ReadonlyMap<string, TlsMaterial>): void {
    const started = Date.now();
    const gen = this.build(certs);
    if (!this.listen(gen)) {
      closeUws(gen.app);
      this.log.error({ port: this.opts.port }, 'tls-generation-listen-failed-keeping-previous');
      return;
    }
    const old = this.current!;
    this.current = gen;
    if (old.socket !== null) loadUws().us_listen_socket_close(old.socket);
    old.socket = null;
    const t = setTimeout(() => {
      this.retiring.delete(old.app);
      closeUws(old.app);
    }, this.opts.retireMs);
    t.unref();
    this.retiring.set(old.app, t);
    this.log.info({ names: gen.names, ms: Date.now() - started }, 'tls-certificates-loaded');
  }

  private build(certs: ReadonlyMap<string, TlsMaterial>): Generation {
    const uws = loadUws();
    const d = this.opts.defaultCert;
    const app = uws.SSLApp(d ? { cert_file_name: d.certFile, key_file_name: d.keyFile, ssl_ciphers: TLS12_CIPHERS } : { ssl_ciphers: TLS12_CIPHERS });
    serveAll(app, this.ctx, this.opts.connectTimeoutMs, this.log);
    let names = 0;
    for (const [name, c] of certs) {
      try {
        this.keys.with(c.key, c.chain, (keyFile, certFile) => app.addServerName(name, { key_file_name: keyFile, cert_file_name: certFile, ssl_ciphers: TLS12_CIPHERS }));
        app.domain(name);
        serveAll(app, this.ctx, this.opts.connectTimeoutMs, this.log);
        names++;
      } catch (err) {
        this.log.error({ app: c.app, cert: c.name, name, err: (err as Error).message }, 'tls-certificate-not-loaded');
      }
    }
    return { app, socket: null, names };
  }

  /** uWS calls back synchronously from listen. */
  private listen(gen: Generation): boolean {
    gen.app.listen(this.opts.host, this.opts.port, (s) => {
      gen.socket = s || null;
    });
    return gen.socket !== null;
  }

  /** Stop accepting (in-flight requests go on). */
  stopListening(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.current?.socket) loadUws().us_listen_socket_close(this.current.socket);
    if (this.current) this.current.socket = null;
  }

  /** Close every generation's connections and remove the key directory. */
  close(): void {
    this.stopListening();
    for (const [app, t] of this.retiring) {
      clearTimeout(t);
      closeUws(app);
    }
    this.retiring.clear();
    if (this.current) closeUws(this.current.app);
    this.current = null;
    this.keys.close();
  }
}
