/**
 * The etcd key layout: the only place in dynomesh that builds or parses a key.
 *
 * Every key lives under a configurable prefix (default `/dynomesh/`). Segments
 * are validated names, so no segment can contain `/` and break the layout.
 *
 *   apps/{app}                         App          app record
 *   releases/{app}/{v:010}             Release      immutable release
 *   current/{app}                      Current      current release number (moved in the release txn), latest and pending versions
 *   release-output/{app}/{v:010}       ReleaseOutput  output and outcome of release v's release phase (`releases:output`)
 *   cron/{app}                         CronState    last tick run per app.json cron job (the leader's fenced txn moves it with the run)
 *   formation/{app}                    Formation    desired quantity and size per process type
 *   config/{app}                       ConfigVars   latest config vars (encrypted), base of the next release
 *   nodes/{node}                       Node         host record, on the node's lease
 *   node-credentials/{node}            NodeCredential  the node's enrolment: its secret sealed with the cluster key (deleted = revoked)
 *   dynos/{node}/{app}/{dyno}          Placement    desired dyno on a node (scheduler leader writes)
 *   status/{node}/{app}/{dyno}         DynoStatus   observed state, on the node's lease
 *   routing/apps/{app}                 RoutingApp   what the router needs of an app (affinity, maintenance)
 *   routing/domains/{host}             Domain       hostname -> app
 *   routing/endpoints/{node}/{app}/{dyno}  Endpoint  a routable web dyno, on the node's lease (the API's: {control member id}/dynomesh-api/control.N)
 *   routing/certs/{app}/{name}         Cert         a TLS certificate + sealed key the routers serve by SNI
 *   routing/acme/{token}               AcmeChallenge an ACME HTTP-01 answer, on the control leader's lease
 *   acm/{app}                          Acm          automatic certificates: enabled, each domain's status
 *   control/members/{id}               Member       control instance addresses, on its lease
 *   control/election/{lease hex}       (raw)        leader election candidates
 *   tokens/{sha256}                    Token        API tokens, stored hashed
 *   builds/{app}/{id}                  Build        build records
 *   addons/{app}/{name}                Addon        add-on attachments
 *   drains/{app}/{id}                  Drain        log drains (the log service forwards to them)
 *   cordons/{node}                     Cordon       a node that takes no new dynos (nodes:drain); no lease, outlives restarts
 *   users/{email}                      User         an account; its tokens name it (`Token.user`)
 *   collaborators/{app}/{email}        Collaborator a user who may act on an app they do not own
 *   migrations/{name}                  Migration    a one-time data migration that has run (the leader runs each once)
 *   metrics/{app}/{minute:012}         AppMinute    one minute of an app's metrics (unix seconds), merged by the app's log owner; on an hourly lease, kept 26 h
 *   usage-open/{node}/{run}            UsageOpen    a dyno process running now (its start), written by its node; closed into usage/
 *   usage/{app}/{YYYY-MM}/{run}.{start} UsageInterval a closed run interval (start..end, split at month ends): dyno-seconds for billing
 *
 * Placements are grouped by node so a dyno-node watches only its own prefix;
 * routing keys are grouped under one prefix so a router watches only that.
 * What a node writes (status, endpoints) is grouped by node too, so its etcd role
 * covers its own keys only (cluster/etcd-auth.ts). During a move two nodes may
 * hold the same app/dyno for a moment: readers take the latest write, and a
 * node's delete removes only its own (router/table/delta.ts).
 *
 * Migration (status/ and routing/endpoints/ were keyed {app}/{dyno} before issue 21):
 * both live on node leases, so nothing is copied. Upgrade controls and routers
 * first, then each dyno-node: an old agent's keys are not read by new routers and
 * vanish with its lease when it restarts; new nodes need the new etcd grants.
 */

export type KeyRef =
  | { kind: 'app'; app: string }
  | { kind: 'release'; app: string; version: number }
  | { kind: 'current'; app: string }
  | { kind: 'releaseOutput'; app: string; version: number }
  | { kind: 'cron'; app: string }
  | { kind: 'formation'; app: string }
  | { kind: 'config'; app: string }
  | { kind: 'node'; node: string }
  | { kind: 'nodeCredential'; node: string }
  | { kind: 'placement'; node: string; app: string; dyno: string }
  | { kind: 'status'; node: string; app: string; dyno: string }
  | { kind: 'routingApp'; app: string }
  | { kind: 'domain'; host: string }
  | { kind: 'endpoint'; node: string; app: string; dyno: string }
  | { kind: 'cert'; app: string; name: string }
  | { kind: 'acmeChallenge'; token: string }
  | { kind: 'acm'; app: string }
  | { kind: 'member'; id: string }
  | { kind: 'candidate'; lease: string }
  | { kind: 'token'; hash: string }
  | { kind: 'build'; app: string; id: string }
  | { kind: 'addon'; app: string; name: string }
  | { kind: 'drain'; app: string; id: string }
  | { kind: 'cordon'; node: string }
  | { kind: 'user'; email: string }
  | { kind: 'collaborator'; app: string; email: string }
  | { kind: 'migration'; name: string }
  | { kind: 'appMinute'; app: string; minute: number }
  | { kind: 'usageOpen'; node: string; run: string }
  | { kind: 'usageInterval'; app: string; month: string; id: string };

const APP = new RegExp(`^${APP_NAME}$`);
const DYNO = new RegExp(`^${DYNO_NAME}$`);
const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;
/** A user name: an email (`bob@example.com`) or a bare name (`admin`, the first account), lowercase. */
const USER = /^[a-z0-9][a-z0-9._+-]{0,63}(@[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?)?$/;
/** Certificate (SNI endpoint) names: `tokyo-1234`, `acm-www-example-com`. */
const CERT = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** ACME tokens are base64url (RFC 8555 8.3: at least 128 bits of entropy). */
const ACME_TOKEN = /^[A-Za-z0-9_-]{16,256}$/;
const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;
const HOST = /^(?=.{1,253}$)[a-z0-9*]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/;

import { APP_NAME, DYNO_NAME } from './names.ts';
import type { RecordKind } from './records.ts';

declare const kindTag: unique symbol;
/** A full key whose value is a `K` record. Only this module makes one. */
export type Key<K extends RecordKind> = string & { readonly [kindTag]: K };
/** A prefix under which every key holds a `K` record. */
export type Prefix<K extends RecordKind> = string & { readonly [kindTag]: K };

export class KeyError extends Error {
  override name = 'KeyError';
}

function check(re: RegExp, what: string, value: string): string {
  if (!re.test(value)) throw new KeyError(`invalid ${what} ${JSON.stringify(value)} for an etcd key`);
  return value;
}

export { isAppName, isDynoName, isProcessType } from './names.ts';
export const isHostname = (s: string): boolean => HOST.test(s);
export const isUserName = (s: string): boolean => USER.test(s);
/** A calendar month as usage keys name it: `2026-12`. */
export const isMonth = (s: string): boolean => MONTH.test(s);

const minuteSeg = (unixSeconds: number): string => {
  if (!Number.isSafeInteger(unixSeconds) || unixSeconds < 0 || unixSeconds % 60 !== 0) throw new KeyError(`invalid metrics minute ${unixSeconds}`);
  return String(unixSeconds).padStart(12, '0');
};

const pad = (v: number): string => {
  if (!Number.isSafeInteger(v) || v < 1) throw new KeyError(`invalid release version ${v}`);
  return String(v).padStart(10, '0');
};

/** Key builders bound to one prefix. Build one per process with `keyspace(prefix)`. */
export function keyspace(prefix = '/dynomesh/') {
  if (!prefix.endsWith('/')) prefix += '/';
  const p = prefix;
  const app = (a: string) => check(APP, 'app name', a);
  const seg = (what: string, s: string) => check(SEGMENT, what, s);

  return {
    prefix: p,
    app: (a: string) => `${p}apps/${app(a)}` as Key<'app'>,
    apps: () => `${p}apps/` as Prefix<'app'>,
    release: (a: string, v: number) => `${p}releases/${app(a)}/${pad(v)}` as Key<'release'>,
    releases: (a: string) => `${p}releases/${app(a)}/` as Prefix<'release'>,
    current: (a: string) => `${p}current/${app(a)}` as Key<'current'>,
    currents: () => `${p}current/` as Prefix<'current'>,
    cron: (a: string) => `${p}cron/${app(a)}` as Key<'cron'>,
    releaseOutput: (a: string, v: number) => `${p}release-output/${app(a)}/${pad(v)}` as Key<'releaseOutput'>,
    formation: (a: string) => `${p}formation/${app(a)}` as Key<'formation'>,
    config: (a: string) => `${p}config/${app(a)}` as Key<'config'>,
    node: (n: string) => `${p}nodes/${seg('node id', n)}` as Key<'node'>,
    nodes: () => `${p}nodes/` as Prefix<'node'>,
    nodeCredential: (n: string) => `${p}node-credentials/${seg('node id', n)}` as Key<'nodeCredential'>,
    nodeCredentials: () => `${p}node-credentials/` as Prefix<'nodeCredential'>,
    placement: (n: string, a: string, d: string) => `${p}dynos/${seg('node id', n)}/${app(a)}/${check(DYNO, 'dyno name', d)}` as Key<'placement'>,
    placementsOf: (n: string) => `${p}dynos/${seg('node id', n)}/` as Prefix<'placement'>,
    placements: () => `${p}dynos/` as Prefix<'placement'>,
    status: (n: string, a: string, d: string) => `${p}status/${seg('node id', n)}/${app(a)}/${check(DYNO, 'dyno name', d)}` as Key<'status'>,
    statusesOn: (n: string) => `${p}status/${seg('node id', n)}/` as Prefix<'status'>,
    statuses: () => `${p}status/` as Prefix<'status'>,
    routing: () => `${p}routing/`,
    routingApp: (a: string) => `${p}routing/apps/${app(a)}` as Key<'routingApp'>,
    domain: (h: string) => `${p}routing/domains/${check(HOST, 'hostname', h.toLowerCase())}` as Key<'domain'>,
    domains: () => `${p}routing/domains/` as Prefix<'domain'>,
    endpoint: (n: string, a: string, d: string) => `${p}routing/endpoints/${seg('node id', n)}/${app(a)}/${check(DYNO, 'dyno name', d)}` as Key<'endpoint'>,
    endpointsOn: (n: string) => `${p}routing/endpoints/${seg('node id', n)}/` as Prefix<'endpoint'>,
    endpoints: () => `${p}routing/endpoints/` as Prefix<'endpoint'>,
    cert: (a: string, name: string) => `${p}routing/certs/${app(a)}/${check(CERT, 'certificate name', name)}` as Key<'cert'>,
    certsOf: (a: string) => `${p}routing/certs/${app(a)}/` as Prefix<'cert'>,
    certs: () => `${p}routing/certs/` as Prefix<'cert'>,
    acmeChallenge: (token: string) => `${p}routing/acme/${check(ACME_TOKEN, 'ACME token', token)}` as Key<'acmeChallenge'>,
    acm: (a: string) => `${p}acm/${app(a)}` as Key<'acm'>,
    acms: () => `${p}acm/` as Prefix<'acm'>,
    member: (id: string) => `${p}control/members/${seg('member id', id)}` as Key<'member'>,
    members: () => `${p}control/members/` as Prefix<'member'>,
    election: () => `${p}control/election/`,
    token: (hash: string) => `${p}tokens/${check(/^[0-9a-f]{64}$/, 'token hash', hash)}` as Key<'token'>,
    tokens: () => `${p}tokens/` as Prefix<'token'>,
    build: (a: string, id: string) => `${p}builds/${app(a)}/${seg('build id', id)}` as Key<'build'>,
    builds: (a: string) => `${p}builds/${app(a)}/` as Prefix<'build'>,
    addon: (a: string, name: string) => `${p}addons/${app(a)}/${seg('add-on name', name)}` as Key<'addon'>,
    addons: (a: string) => `${p}addons/${app(a)}/` as Prefix<'addon'>,
    drain: (a: string, id: string) => `${p}drains/${app(a)}/${seg('drain id', id)}` as Key<'drain'>,
    drainsOf: (a: string) => `${p}drains/${app(a)}/` as Prefix<'drain'>,
    drains: () => `${p}drains/` as Prefix<'drain'>,
    cordon: (n: string) => `${p}cordons/${seg('node id', n)}` as Key<'cordon'>,
    cordons: () => `${p}cordons/` as Prefix<'cordon'>,
    user: (email: string) => `${p}users/${check(USER, 'user email', email)}` as Key<'user'>,
    users: () => `${p}users/` as Prefix<'user'>,
    collaborator: (a: string, email: string) => `${p}collaborators/${app(a)}/${check(USER, 'user email', email)}` as Key<'collaborator'>,
    collaboratorsOf: (a: string) => `${p}collaborators/${app(a)}/` as Prefix<'collaborator'>,
    collaborators: () => `${p}collaborators/` as Prefix<'collaborator'>,
    migration: (name: string) => `${p}migrations/${seg('migration name', name)}` as Key<'migration'>,
    /** `unixSeconds`: the minute's start (a multiple of 60). Keys sort by time. */
    appMinute: (a: string, unixSeconds: number) => `${p}metrics/${app(a)}/${minuteSeg(unixSeconds)}` as Key<'appMinute'>,
    appMinutes: (a: string) => `${p}metrics/${app(a)}/` as Prefix<'appMinute'>,
    usageOpen: (n: string, run: string) => `${p}usage-open/${seg('node id', n)}/${seg('run id', run)}` as Key<'usageOpen'>,
    usageOpenOf: (n: string) => `${p}usage-open/${seg('node id', n)}/` as Prefix<'usageOpen'>,
    usageOpens: () => `${p}usage-open/` as Prefix<'usageOpen'>,
    usageInterval: (a: string, month: string, run: string, start: number) =>
      `${p}usage/${app(a)}/${check(MONTH, 'month', month)}/${seg('run id', run)}.${Math.floor(start)}` as Key<'usageInterval'>,
    usageOfMonth: (a: string, month: string) => `${p}usage/${app(a)}/${check(MONTH, 'month', month)}/` as Prefix<'usageInterval'>,
    usage: () => `${p}usage/` as Prefix<'usageInterval'>,

    /**
     * Every key prefix that belongs to an app, for destroy. Placements are per node and go
     * through the scheduler; status and endpoints are per node and go with the app's dynos.
     */
    appPrefixes: (a: string) => [
      `${p}releases/${app(a)}/`,
      `${p}release-output/${app(a)}/`,
      `${p}routing/certs/${app(a)}/`,
      `${p}builds/${app(a)}/`,
      `${p}addons/${app(a)}/`,
      `${p}drains/${app(a)}/`,
      `${p}collaborators/${app(a)}/`,
      `${p}metrics/${app(a)}/`,
    ],

    /** Parse a full key back into what it names; undefined for keys outside the layout. */
    parse(key: string): KeyRef | undefined {
      if (!key.startsWith(p)) return undefined;
      const s = key.slice(p.length).split('/');
      switch (s[0]) {
        case 'apps': return s.length === 2 ? { kind: 'app', app: s[1]! } : undefined;
        case 'releases': return s.length === 3 ? { kind: 'release', app: s[1]!, version: Number(s[2]) } : undefined;
        case 'current': return s.length === 2 ? { kind: 'current', app: s[1]! } : undefined;
        case 'cron': return s.length === 2 ? { kind: 'cron', app: s[1]! } : undefined;
        case 'release-output': return s.length === 3 ? { kind: 'releaseOutput', app: s[1]!, version: Number(s[2]) } : undefined;
        case 'formation': return s.length === 2 ? { kind: 'formation', app: s[1]! } : undefined;
        case 'config': return s.length === 2 ? { kind: 'config', app: s[1]! } : undefined;
        case 'nodes': return s.length === 2 ? { kind: 'node', node: s[1]! } : undefined;
        case 'node-credentials': return s.length === 2 ? { kind: 'nodeCredential', node: s[1]! } : undefined;
        case 'dynos': return s.length === 4 ? { kind: 'placement', node: s[1]!, app: s[2]!, dyno: s[3]! } : undefined;
        case 'status': return s.length === 4 ? { kind: 'status', node: s[1]!, app: s[2]!, dyno: s[3]! } : undefined;
        case 'tokens': return s.length === 2 ? { kind: 'token', hash: s[1]! } : undefined;
        case 'builds': return s.length === 3 ? { kind: 'build', app: s[1]!, id: s[2]! } : undefined;
        case 'addons': return s.length === 3 ? { kind: 'addon', app: s[1]!, name: s[2]! } : undefined;
        case 'drains': return s.length === 3 ? { kind: 'drain', app: s[1]!, id: s[2]! } : undefined;
        case 'cordons': return s.length === 2 ? { kind: 'cordon', node: s[1]! } : undefined;
        case 'users': return s.length === 2 ? { kind: 'user', email: s[1]! } : undefined;
        case 'collaborators': return s.length === 3 ? { kind: 'collaborator', app: s[1]!, email: s[2]! } : undefined;
        case 'migrations': return s.length === 2 ? { kind: 'migration', name: s[1]! } : undefined;
        case 'acm': return s.length === 2 ? { kind: 'acm', app: s[1]! } : undefined;
        case 'metrics': return s.length === 3 ? { kind: 'appMinute', app: s[1]!, minute: Number(s[2]) } : undefined;
        case 'usage-open': return s.length === 3 ? { kind: 'usageOpen', node: s[1]!, run: s[2]! } : undefined;
        case 'usage': return s.length === 4 ? { kind: 'usageInterval', app: s[1]!, month: s[2]!, id: s[3]! } : undefined;
        case 'routing':
          if (s[1] === 'apps' && s.length === 3) return { kind: 'routingApp', app: s[2]! };
          if (s[1] === 'domains' && s.length === 3) return { kind: 'domain', host: s[2]! };
          if (s[1] === 'endpoints' && s.length === 5) return { kind: 'endpoint', node: s[2]!, app: s[3]!, dyno: s[4]! };
          if (s[1] === 'certs' && s.length === 4) return { kind: 'cert', app: s[2]!, name: s[3]! };
          if (s[1] === 'acme' && s.length === 3) return { kind: 'acmeChallenge', token: s[2]! };
          return undefined;
        case 'control':
          if (s[1] === 'members' && s.length === 3) return { kind: 'member', id: s[2]! };
          if (s[1] === 'election' && s.length === 3) return { kind: 'candidate', lease: s[2]! };
          return undefined;
        default: return undefined;
      }
    },
  };
}

export type Keyspace = ReturnType<typeof keyspace>;
