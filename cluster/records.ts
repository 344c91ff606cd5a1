/**
 * The values stored under each key of `keys.ts`, with their schema versions.
 *
 * A record type changes shape by adding a new version here with an upgrade
 * from the previous one; readers then accept old values and writers write the
 * newest. Unknown versions are refused with a `DecodeError` naming the key.
 */

export type Affinity = 'ip' | 'random' | `cookie:${string}` | `header:${string}`;

export interface App {
  name: string;
  createdAt: number;
  owner: string;
  stack: string;
  /** Buildpacks in detection order; empty means the built-in list. */
  buildpacks: string[];
  /** Stable id (uuid) the Platform API shows, as Heroku's app id. */
  id?: string;
  /**
   * True when `owner` names a user account (`users/{owner}`): apps created since
   * accounts exist, and older apps once the leader's owner migration gave them
   * to the admin. Before that, `owner` is whatever name the creating token had,
   * so the access policy trusts it for no one but admins.
   */
  ownerIsUser?: boolean;
}

export interface Slug {
  id: string;
  sha256: string;
  size: number;
}

export interface Release {
  app: string;
  version: number;
  slug: Slug | null;
  /** Process type -> command, from the Procfile or the buildpack's defaults. */
  processTypes: Record<string, string>;
  /** Config vars sealed with the cluster key (see `sealed.ts`). */
  config: Uint8Array;
  description: string;
  author: string;
  createdAt: number;
  /** Stable id (uuid) the Platform API shows; rollback accepts it as well as the version. */
  id?: string;
  /**
   * Release phase (a `release` process type): `pending` while its command runs, then
   * `succeeded` (it became current) or `failed` (it never served). Absent: succeeded.
   */
  status?: ReleaseStatus;
  /** The release phase: which control instance runs it and why it failed. */
  phase?: ReleasePhaseInfo;
  /** Scheduled jobs from app.json `cron` (run as `scheduler.N` one-offs by the leader). */
  cron?: CronEntry[];
  /** app.json `healthchecks.web`: when a new web dyno of this release counts as up. Absent: accepting TCP on $PORT. */
  healthcheck?: HealthCheck;
}

/** One app.json `cron` entry: a command and a five-field UTC schedule. */
export interface CronEntry {
  command: string;
  schedule: string;
}

/** `cron/{app}`: what the leader ran of each cron job (id: hash of schedule and command). */
export interface CronState {
  app: string;
  jobs: Record<string, CronJobState>;
}

export interface CronJobState {
  command: string;
  schedule: string;
  /** When the job was first seen: no tick before it runs. */
  since: number;
  /** The last scheduled minute (ms) that was run, moved in the same txn as its dyno's placement. */
  lastTick?: number;
  lastRunAt?: number;
  lastDyno?: string;
  /** Exit status of `lastDyno` once it ended (null: killed or unknown). */
  lastExit?: number | null;
  /** Ticks passed over (the leader was down longer than the catch-up window). */
  skipped?: number;
}

/** An HTTP health check of new web dynos: GET `path` must answer `status` within `timeoutMs`. */
export interface HealthCheck {
  path: string;
  status: number;
  timeoutMs: number;
  /** Failed checks before the dyno counts as failed (its release does not take traffic). */
  attempts: number;
  intervalMs: number;
  /** Delay after the port opens before the first check. */
  waitMs: number;
}

export type ReleaseStatus = 'pending' | 'succeeded' | 'failed';

export interface ReleasePhaseInfo {
  /** Member id of the control instance running the command (a pending release whose runner is gone is failed). */
  runner: string;
  startedAt: number;
  finishedAt?: number;
  /** The one-off dyno that runs it (`release.1234`). */
  dyno?: string;
  exitCode?: number | null;
  /** Why it failed, in one line. */
  error?: string;
}

export interface Current {
  /** The release that serves (the scheduler runs it). */
  version: number;
  /** The highest version ever created (failed and pending ones too); absent means `version`. */
  latest?: number;
  /** A release whose release phase is running; no other release is created meanwhile. */
  pending?: number;
}

/** `release-output/{app}/{v}`: what release v's release command printed, kept for `releases:output`. */
export interface ReleaseOutput {
  app: string;
  version: number;
  /** The output so far (stdout and stderr interleaved); past the cap the start is cut. */
  output: string;
  /** Bytes cut from the start to stay under the cap. */
  truncated: number;
  finished: boolean;
  exitCode: number | null;
  updatedAt: number;
}

export interface ProcessFormation {
  quantity: number;
  size: string;
}

export interface Formation {
  types: Record<string, ProcessFormation>;
}

export interface ConfigVars {
  /** Sealed JSON map of the app's latest config vars. */
  sealed: Uint8Array;
}

export interface Node {
  id: string;
  /** Address other hosts and routers reach this node's dynos on. */
  address: string;
  memoryMb: number;
  labels: Record<string, string>;
  /** sha256 of slugs this node has cached, so the scheduler can prefer it. */
  slugs: string[];
  startedAt: number;
  agentVersion: string;
  /** The agent's own HTTP address (one-off dyno attach), when it serves one. */
  agentUrl?: string;
}

/** Memory per dyno size, as Heroku's dyno types (MB). */
export const DYNO_SIZES: Record<string, number> = {
  'standard-1x': 512,
  'standard-2x': 1024,
  'performance-m': 2560,
  'performance-l': 14336,
};

export interface Placement {
  app: string;
  dyno: string;
  type: string;
  release: number;
  size: string;
  memoryMb: number;
  /** Bumped by `ps:restart`: a changed value replaces the running dyno. */
  restartNonce: number;
  createdAt: number;
  /** One-off dynos (`run.N`): the command to run instead of the process type's. */
  command?: string;
  /**
   * One-off dynos only: the requester attaches to the node's `agentUrl` (`heroku run`);
   * the process starts once attached and is killed when the requester disconnects.
   * Absent or false: detached (`run:detached`), output goes to the logs.
   */
  attach?: boolean;
  /** Attached one-offs only: run on a pseudo-terminal of this size (`dynomesh run` from a terminal). */
  tty?: { rows: number; cols: number; term?: string };
}

export type DynoState = 'starting' | 'up' | 'crashed' | 'down';

export interface DynoStatus {
  app: string;
  dyno: string;
  node: string;
  release: number;
  state: DynoState;
  since: number;
  restarts: number;
  exitCode: number | null;
  /** Why the dyno is in this state (R10, R15, exit status) and when it restarts next. */
  message: string;
  nextRestartAt: number | null;
}

export interface RoutingApp {
  app: string;
  affinity: Affinity;
  /** Bounded-loads factor c: skip a dyno with in-flight > ceil(c * mean). */
  balanceFactor: number;
  maintenance: boolean;
  /** `features:enable http-redirect`: plain HTTP requests get 301 (GET/HEAD) or 308 to https. */
  httpsRedirect?: boolean;
  /** `features:enable hsts`: HTTPS responses carry Strict-Transport-Security (one year). */
  hsts?: boolean;
}

/**
 * A TLS certificate the routers serve by SNI for each of `domains` (Heroku's SNI
 * endpoint). `key` is the PEM private key sealed with the cluster key like config
 * vars (`sealed.ts`, sealed as `{key: pem}`); routers open it into memory only.
 */
export interface Cert {
  app: string;
  /** Heroku-style endpoint name (`tokyo-1234`), the key's last segment. */
  name: string;
  /** PEM: the leaf first, then intermediates. */
  chain: string;
  key: Uint8Array;
  /** DNS names of the leaf's subjectAltName (or CN), lowercase; `*.example.com` allowed. */
  domains: string[];
  notBefore: number;
  notAfter: number;
  /** `manual` (certs:add) or `acm` (issued by the control leader over ACME). */
  source: 'manual' | 'acm';
  issuer: string;
  subject: string;
  /** True when the chain's issuer is not the leaf itself. */
  selfSigned: boolean;
  createdAt: number;
  updatedAt: number;
}

/** An ACME HTTP-01 challenge response the routers serve at /.well-known/acme-challenge/{token}; on the leader's lease. */
export interface AcmeChallenge {
  token: string;
  keyAuthorization: string;
  app: string;
  host: string;
  createdAt: number;
}

export type AcmDomainStatus = 'pending' | 'cert issued' | 'failing';

export interface AcmDomain {
  status: AcmDomainStatus;
  /** Why it is failing (the ACME server's problem detail), '' otherwise. */
  reason: string;
  updatedAt: number;
  /** While failing: not retried before this (backoff), unless refreshed. */
  nextAttemptAt: number;
  failures: number;
  /** The app's `refreshNonce` this domain was last issued for. */
  refreshed?: number;
}

/** Automatic certificate management for one app: on/off and each custom domain's state (the leader writes). */
export interface Acm {
  app: string;
  enabled: boolean;
  domains: Record<string, AcmDomain>;
  /** Bumped by `certs:auto:refresh`: the leader renews now. */
  refreshNonce: number;
  updatedAt: number;
}

export interface Domain {
  app: string;
}

export interface Endpoint {
  app: string;
  dyno: string;
  node: string;
  host: string;
  port: number;
  release: number;
}

export interface Member {
  id: string;
  /** Base URL of this instance's Platform API, as others reach it. */
  api: string;
  startedAt: number;
  /** `host:port` of this instance's log service (producers ship msgpackr batches there; see logplex/). */
  logs?: string;
  /** `host:port` of the add-on servers this instance provisions on: dyno-nodes let dynos reach them through their firewall. */
  addonServers?: string[];
}

/**
 * What a token may do, as Heroku's authorization scopes: `global` everything its
 * user may (and admin routes for an admin); `write` act on the user's apps but not
 * manage accounts or tokens; `read` look only (no config vars or source);
 * `deploy` push and read build output, nothing else. Absent means `global`.
 */
export type TokenScope = 'global' | 'write' | 'read' | 'deploy';
export const TOKEN_SCOPES: readonly TokenScope[] = ['global', 'write', 'read', 'deploy'];

export interface Token {
  id: string;
  name: string;
  /** The account it acts as (`users/{user}`). */
  user: string;
  /** Legacy: admin rights now come from the user's account; kept so older readers still decode. */
  admin: boolean;
  createdAt: number;
  scope?: TokenScope;
  /** Limited to this one app (`authorizations:create --app`). */
  app?: string;
  /** Stops working at this time (ms since the epoch). */
  expiresAt?: number;
}

/** An account. Tokens act as their user; admins manage users and cluster routes and see every app. */
export interface User {
  email: string;
  id: string;
  admin: boolean;
  createdAt: number;
  /** Who created it (`users:add`), or `migration` / `bootstrap`. */
  createdBy: string;
}

/** A collaborator of an app: may do everything on it but destroy, transfer or manage access. */
export interface Collaborator {
  app: string;
  user: string;
  createdAt: number;
  by: string;
}

/** A one-time migration that has run (`migrations/{name}`), so no leader runs it again. */
export interface Migration {
  name: string;
  doneAt: number;
  /** The control instance that ran it. */
  by: string;
  /** What it did, for operators (`apps given to admin: 3`). */
  summary: string;
}

export type BuildStatus = 'pending' | 'succeeded' | 'failed';

export interface Build {
  id: string;
  app: string;
  status: BuildStatus;
  commit: string;
  buildpack: string;
  slug: Slug | null;
  release: number | null;
  createdAt: number;
  finishedAt: number | null;
  user: string;
  /** Member id of the control instance that ran it (it holds the output). */
  control?: string;
  /** Why a failed build failed, in one line. */
  error?: string;
  /** The ref pushed (`refs/heads/main`). */
  ref?: string;
}

export interface Addon {
  app: string;
  /** Attachment name, e.g. DATABASE. */
  name: string;
  id: string;
  service: string;
  plan: string;
  configVars: string[];
  createdAt: number;
  /** Global add-on name shown to users, e.g. `postgresql-shaped-12345` (control/addons). */
  addonName?: string;
  /** `provisioning` until the attach release exists; `deprovisioning` once its config vars are removed. */
  state?: 'provisioning' | 'provisioned' | 'deprovisioning';
  /** Who created it (token user). */
  author?: string;
}

/** A log drain of an app (`drains:add`): where the log service forwards the app's stream. */
export interface Drain {
  id: string;
  app: string;
  /** `syslog://host:port`, `syslog+tls://host:port`, `http://...` or `https://...`. */
  url: string;
  /** Heroku's drain token (`d.<uuid>`): the syslog HOSTNAME and the `Logplex-Drain-Token` header. */
  token: string;
  createdAt: number;
}

/** A cordoned node (`nodes:drain`): the scheduler places nothing new there and moves its dynos off. */
export interface Cordon {
  node: string;
  /** Who cordoned it, and why (shown by `dynomesh nodes`). */
  by: string;
  reason: string;
  createdAt: number;
}

/**
 * A node's enrolment (`dynomesh nodes:enroll`): the secret its credential file
 * holds, sealed with the cluster key so only controls open it. Deleting it
 * revokes the node (`nodes:revoke`).
 */
export interface NodeCredential {
  node: string;
  /** `{secret: hex}` sealed with the cluster key (sealed.ts). */
  secret: Uint8Array;
  by: string;
  createdAt: number;
}

/**
 * One minute of an app's metrics (control/metrics): routers' request counts and
 * response-time histogram added up, dyno-nodes' samples kept at their maximum.
 */
export interface AppMinute {
  app: string;
  /** Start of the minute, unix seconds. */
  minute: number;
  requests: number;
  /** Responses per status class, 1xx..5xx. */
  status: number[];
  /** Router errors by Heroku code (`H12`). */
  errors: Record<string, number>;
  /** Response times, lib/histogram.ts wire form (`[bucket, count, ...]`). */
  hist: number[];
  /** Per dyno: `[rssMb, swapMb, quotaMb, cpuPct (-1: unknown), r14]`, the minute's maxima (r14: events). */
  dynos: Record<string, number[]>;
}

/**
 * A dyno process on `node` since `start` (ms), written by its node when it starts; `end` set by
 * the node when it exits. The leader moves it into `usage/` intervals (cluster/usage.ts).
 */
export interface UsageOpen {
  app: string;
  dyno: string;
  type: string;
  size: string;
  node: string;
  run: string;
  start: number;
  end?: number;
}

/** Run `run` of a dyno ran from `start` to `end` (ms), within one calendar month (UTC). */
export interface UsageInterval extends UsageOpen {
  end: number;
  /** `node`: its agent saw it end; `lease`: its host was lost and it stopped counting at its lease expiry. */
  closedBy: 'node' | 'lease';
}

/** What each key kind holds. */
export interface RecordOf {
  app: App;
  release: Release;
  current: Current;
  releaseOutput: ReleaseOutput;
  cron: CronState;
  formation: Formation;
  config: ConfigVars;
  node: Node;
  nodeCredential: NodeCredential;
  placement: Placement;
  status: DynoStatus;
  routingApp: RoutingApp;
  cert: Cert;
  acmeChallenge: AcmeChallenge;
  acm: Acm;
  domain: Domain;
  endpoint: Endpoint;
  member: Member;
  token: Token;
  build: Build;
  addon: Addon;
  drain: Drain;
  cordon: Cordon;
  user: User;
  collaborator: Collaborator;
  migration: Migration;
  appMinute: AppMinute;
  usageOpen: UsageOpen;
  usageInterval: UsageInterval;
}

export type RecordKind = keyof RecordOf;

type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'bytes' | 'array' | 'number|null' | 'object|null';

/** Required fields and their types, per kind at its current version. */
export const SCHEMAS: { [K in RecordKind]: { version: number; fields: Record<string, FieldType> } } = {
  app: { version: 1, fields: { name: 'string', createdAt: 'number', owner: 'string', stack: 'string', buildpacks: 'array' } },
  release: {
    version: 1,
    fields: {
      app: 'string', version: 'number', slug: 'object|null', processTypes: 'object', config: 'bytes',
      description: 'string', author: 'string', createdAt: 'number',
    },
  },
  current: { version: 1, fields: { version: 'number' } },
  cron: { version: 1, fields: { app: 'string', jobs: 'object' } },
  releaseOutput: { version: 1, fields: { app: 'string', version: 'number', output: 'string', truncated: 'number', finished: 'boolean', exitCode: 'number|null', updatedAt: 'number' } },
  formation: { version: 1, fields: { types: 'object' } },
  config: { version: 1, fields: { sealed: 'bytes' } },
  node: {
    version: 1,
    fields: { id: 'string', address: 'string', memoryMb: 'number', labels: 'object', slugs: 'array', startedAt: 'number', agentVersion: 'string' },
  },
  nodeCredential: { version: 1, fields: { node: 'string', secret: 'bytes', by: 'string', createdAt: 'number' } },
  placement: {
    version: 1,
    fields: {
      app: 'string', dyno: 'string', type: 'string', release: 'number', size: 'string', memoryMb: 'number',
      restartNonce: 'number', createdAt: 'number',
    },
  },
  status: {
    version: 1,
    fields: {
      app: 'string', dyno: 'string', node: 'string', release: 'number', state: 'string', since: 'number',
      restarts: 'number', exitCode: 'number|null', message: 'string', nextRestartAt: 'number|null',
    },
  },
  routingApp: { version: 1, fields: { app: 'string', affinity: 'string', balanceFactor: 'number', maintenance: 'boolean' } },
  domain: { version: 1, fields: { app: 'string' } },
  cert: {
    version: 1,
    fields: {
      app: 'string', name: 'string', chain: 'string', key: 'bytes', domains: 'array', notBefore: 'number', notAfter: 'number',
      source: 'string', issuer: 'string', subject: 'string', selfSigned: 'boolean', createdAt: 'number', updatedAt: 'number',
    },
  },
  acmeChallenge: { version: 1, fields: { token: 'string', keyAuthorization: 'string', app: 'string', host: 'string', createdAt: 'number' } },
  acm: { version: 1, fields: { app: 'string', enabled: 'boolean', domains: 'object', refreshNonce: 'number', updatedAt: 'number' } },
  endpoint: { version: 1, fields: { app: 'string', dyno: 'string', node: 'string', host: 'string', port: 'number', release: 'number' } },
  member: { version: 1, fields: { id: 'string', api: 'string', startedAt: 'number' } },
  token: { version: 1, fields: { id: 'string', name: 'string', user: 'string', admin: 'boolean', createdAt: 'number' } },
  build: {
    version: 1,
    fields: {
      id: 'string', app: 'string', status: 'string', commit: 'string', buildpack: 'string', slug: 'object|null',
      release: 'number|null', createdAt: 'number', finishedAt: 'number|null', user: 'string',
    },
  },
  addon: {
    version: 1,
    fields: { app: 'string', name: 'string', id: 'string', service: 'string', plan: 'string', configVars: 'array', createdAt: 'number' },
  },
  drain: { version: 1, fields: { id: 'string', app: 'string', url: 'string', token: 'string', createdAt: 'number' } },
  cordon: { version: 1, fields: { node: 'string', by: 'string', reason: 'string', createdAt: 'number' } },
  user: { version: 1, fields: { email: 'string', id: 'string', admin: 'boolean', createdAt: 'number', createdBy: 'string' } },
  collaborator: { version: 1, fields: { app: 'string', user: 'string', createdAt: 'number', by: 'string' } },
  migration: { version: 1, fields: { name: 'string', doneAt: 'number', by: 'string', summary: 'string' } },
  appMinute: { version: 1, fields: { app: 'string', minute: 'number', requests: 'number', status: 'array', errors: 'object', hist: 'array', dynos: 'object' } },
  usageOpen: { version: 1, fields: { app: 'string', dyno: 'string', type: 'string', size: 'string', node: 'string', run: 'string', start: 'number' } },
  usageInterval: {
    version: 1,
    fields: { app: 'string', dyno: 'string', type: 'string', size: 'string', node: 'string', run: 'string', start: 'number', end: 'number', closedBy: 'string' },
  },
};

/** Returns the first field that does not match, or undefined when the value fits. */
export function mismatch(kind: RecordKind, value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'body is not a map';
  const v = value as Record<string, unknown>;
  for (const [field, type] of Object.entries(SCHEMAS[kind].fields)) {
    const x = v[field];
    const ok =
      type === 'bytes' ? x instanceof Uint8Array
      : type === 'array' ? Array.isArray(x)
      : type === 'number|null' ? x === null || typeof x === 'number'
      : type === 'object|null' ? x === null || (typeof x === 'object' && !Array.isArray(x))
      : type === 'object' ? x !== null && typeof x === 'object' && !Array.isArray(x) && !(x instanceof Uint8Array)
      : typeof x === type;
    if (!ok) return `field ${field} should be ${type}`;
  }
  return undefined;
}
