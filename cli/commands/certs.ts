/**
 * HTTPS certificates with Heroku's command names and outputs: `certs`,
 * `certs:add CRT KEY`, `certs:info`, `certs:update CRT KEY`, `certs:remove`,
 * and automatic certificates `certs:auto`, `certs:auto:enable`,
 * `certs:auto:disable`, `certs:auto:refresh`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { AppFlags } from '../app.ts';
import { CliError } from '../errors.ts';
import { ago, header, info, json, keyValues, print, table } from '../output.ts';
import { api, appOf, confirmApp, hex, step, withApp, withJson, type JsonFlags } from '../shared.ts';

export interface SniEndpointJson {
  id: string;
  name: string;
  domains: string[];
  created_at: string;
  updated_at: string;
  ssl_cert: {
    'ca_signed?': boolean;
    'self_signed?': boolean;
    'acm?': boolean;
    cert_domains: string[];
    starts_at: string;
    expires_at: string;
    issuer: string;
    subject: string;
  };
}

interface AcmJson {
  acm: boolean;
  domains: { hostname: string; acm_status: string | null; acm_status_reason: string | null; updated_at: string | null }[];
}

interface CertFlags extends AppFlags, JsonFlags {
  name?: string;
  confirm?: string;
  domains?: string;
}

/** `2027-01-01 00:00 UTC`, as Heroku prints expiry. */
const utc = (iso: string) => iso.replace('T', ' ').slice(0, 16) + ' UTC';

function readPem(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CliError(`cannot read the ${what} ${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function details(c: SniEndpointJson): string {
  const s = c.ssl_cert;
  return keyValues([
    ['Common Name(s)', s.cert_domains.join(', ')],
    ['Expires At', utc(s.expires_at)],
    ['Issuer', s.issuer],
    ['Starts At', utc(s.starts_at)],
    ['Subject', s.subject],
    ['Domain(s)', c.domains.length ? c.domains.join(', ') : '(none of the app\'s domains)'],
  ]) + (s['self_signed?'] ? 'SSL certificate is self signed.\n' : s['acm?'] ? 'SSL certificate is issued by Automatic Certificate Management.\n' : 'SSL certificate is signed by a certificate authority.\n');
}

/** The endpoint `--name` names, or the app's only one. */
async function pick(app: string, name: string | undefined): Promise<SniEndpointJson> {
  if (name) return api().get<SniEndpointJson>(`/apps/${app}/sni-endpoints/${encodeURIComponent(name)}`);
  const all = await api().get<SniEndpointJson[]>(`/apps/${app}/sni-endpoints`);
  if (all.length === 0) throw new CliError(`${hex(app)} has no SSL certificates; add one with \`dynomesh certs:add CRT KEY -a ${app}\``);
  if (all.length > 1) throw new CliError(`${hex(app)} has more than one SSL certificate (${all.map((c) => c.name).join(', ')}); pick one with --name`);
  return all[0]!;
}

export function registerCerts(program: Command): void {
  withJson(withApp(program.command('certs').alias('certs:list').description('list the app\'s SSL certificates'))).action(async (flags: CertFlags) => {
    const app = appOf(flags);
    const list = await api().get<SniEndpointJson[]>(`/apps/${app}/sni-endpoints`);
    if (flags.json) return print(json(list));
    if (list.length === 0) {
      print(`${hex(app)} has no SSL certificates.\nUse dynomesh certs:add CRT KEY to add one.\n`);
      return;
    }
    print(table(list, [
      { header: 'Name', get: (c) => c.name },
      { header: 'Common Name(s)', get: (c) => c.ssl_cert.cert_domains.join(', ') },
      { header: 'Expires', get: (c) => utc(c.ssl_cert.expires_at) },
      { header: 'Trusted', get: (c) => (c.ssl_cert['self_signed?'] ? 'False' : 'True') },
      { header: 'Type', get: (c) => (c.ssl_cert['acm?'] ? 'ACM' : 'SNI') },
      { header: 'Domains', get: (c) => c.domains.length, right: true },
    ]));
  });

  withJson(withApp(program.command('certs:add <crt> <key>').description('add an SSL certificate (PEM chain, leaf first) and its private key to the app'))
    .option('--domains <list>', 'comma-separated domains the certificate should cover (checked against the certificate; routers serve it for the app\'s domains it covers)'))
    .action(async (crt: string, key: string, flags: CertFlags) => {
      const app = appOf(flags);
      const body = { certificate_chain: readPem(crt, 'certificate'), private_key: readPem(key, 'private key') };
      const c = await step(`Adding SSL certificate to ${hex(app)}`, () => api().post<SniEndpointJson>(`/apps/${app}/sni-endpoints`, body));
      if (flags.json) return print(json(c));
      const wanted = (flags.domains ?? '').split(',').map((d) => d.trim().toLowerCase()).filter(Boolean);
      const missing = wanted.filter((d) => !c.domains.includes(d));
      print(`${hex(app)} now served by ${c.name}\n`);
      print('Certificate details:\n' + details(c));
      if (missing.length) info(` ▸    not covered by this certificate or not a domain of ${app}: ${missing.join(', ')} (add domains with \`dynomesh domains:add\`)`);
      if (c.domains.length) {
        print('\n' + header('Your certificate has been added successfully. Point these domains at your routers (port 443)'));
        print(table(c.domains, [{ header: 'Domain', get: (d) => d }]));
      }
    });

  withJson(withApp(program.command('certs:info').description('show an SSL certificate\'s details').option('--name <name>', 'which certificate (when the app has several)'))).action(async (flags: CertFlags) => {
    const app = appOf(flags);
    const c = await step(`Fetching SSL certificate ${flags.name ?? ''} info for ${hex(app)}`.replace('  ', ' '), () => pick(app, flags.name));
    if (flags.json) return print(json(c));
    print('Certificate details:\n' + details(c));
  });

  withJson(withApp(program.command('certs:update <crt> <key>').description('replace an SSL certificate and key (same name, same domains)'))
    .option('--name <name>', 'which certificate (when the app has several)')
    .option('--confirm <app>', 'skip the confirmation prompt'))
    .action(async (crt: string, key: string, flags: CertFlags) => {
      const app = appOf(flags);
      const body = { certificate_chain: readPem(crt, 'certificate'), private_key: readPem(key, 'private key') };
      const cur = await pick(app, flags.name);
      await confirmApp(app, flags.confirm, `This command will change the certificate of ${cur.name} on ${hex(app)}.`, `certs:update replaces ${cur.name}`);
      const c = await step(`Updating SSL certificate ${cur.name} for ${hex(app)}`, () => api().patch<SniEndpointJson>(`/apps/${app}/sni-endpoints/${encodeURIComponent(cur.name)}`, body));
      if (flags.json) return print(json(c));
      print('Updated certificate details:\n' + details(c));
    });

  withApp(program.command('certs:remove').description('remove an SSL certificate from the app')
    .option('--name <name>', 'which certificate (when the app has several)')
    .option('--confirm <app>', 'skip the confirmation prompt'))
    .action(async (flags: CertFlags) => {
      const app = appOf(flags);
      const cur = await pick(app, flags.name);
      await confirmApp(app, flags.confirm, `This command will remove the certificate ${cur.name} from ${hex(app)}; its domains get no HTTPS until another covers them.`, `certs:remove deletes ${cur.name}`);
      await step(`Removing SSL certificate ${cur.name} from ${hex(app)}`, () => api().delete(`/apps/${app}/sni-endpoints/${encodeURIComponent(cur.name)}`));
    });

  // ---- ACM ------------------------------------------------------------------

  withJson(withApp(program.command('certs:auto').description('show Automatic Certificate Management status for each domain'))).action(async (flags: CertFlags) => {
    const app = appOf(flags);
    const [s, certs] = await Promise.all([api().get<AcmJson>(`/apps/${app}/acm`), api().get<SniEndpointJson[]>(`/apps/${app}/sni-endpoints`)]);
    if (flags.json) return print(json(s));
    if (!s.acm) {
      print(header(`Automatic Certificate Management is disabled on ${hex(app)}`));
      return;
    }
    print(header(`Automatic Certificate Management is enabled on ${hex(app)}`) + '\n');
    const acm = certs.find((c) => c.ssl_cert['acm?']);
    if (acm) print('Certificate details:\n' + details(acm) + '\n');
    if (s.domains.length === 0) {
      print(`${hex(app)} has no custom domains; ACM issues certificates for custom domains (dynomesh domains:add).\n`);
      return;
    }
    const failing = s.domains.some((d) => d.acm_status === 'Failing');
    print(table(s.domains, [
      { header: 'Domain', get: (d) => d.hostname },
      { header: 'Status', get: (d) => d.acm_status },
      ...(failing ? [{ header: 'Reason', get: (d: AcmJson['domains'][number]) => d.acm_status_reason ?? '' }] : []),
      { header: 'Last Updated', get: (d) => ago(d.updated_at) },
    ]));
    if (failing) print('\n' + header('Some domains are failing validation: check that their DNS points at your routers and that port 80 reaches them') + '    Retried with backoff; `dynomesh certs:auto:refresh` retries now.\n');
  });

  withApp(program.command('certs:auto:enable').description('enable Automatic Certificate Management (ACME, HTTP-01) for the app\'s custom domains')).action(async (flags: AppFlags) => {
    const app = appOf(flags);
    process.stderr.write(`Enabling Automatic Certificate Management for ${hex(app)}... `);
    await api().post(`/apps/${app}/acm`);
    info('starting. See status with dynomesh certs:auto');
  });

  withApp(program.command('certs:auto:disable').description('disable Automatic Certificate Management (issued certificates stay until they expire or are removed)')
    .option('--confirm <app>', 'skip the confirmation prompt'))
    .action(async (flags: CertFlags) => {
      const app = appOf(flags);
      await confirmApp(app, flags.confirm, `This command will disable Automatic Certificate Management on ${hex(app)}; its certificates are no longer renewed.`, 'certs:auto:disable stops renewals');
      await step(`Disabling Automatic Certificate Management for ${hex(app)}`, () => api().delete(`/apps/${app}/acm`));
    });

  withApp(program.command('certs:auto:refresh').description('renew the app\'s ACM certificates now')).action(async (flags: AppFlags) => {
    const app = appOf(flags);
    await step(`Refreshing Automatic Certificate Management for ${hex(app)}`, () => api().patch(`/apps/${app}/acm`, { acm_refresh: true }));
  });
}
