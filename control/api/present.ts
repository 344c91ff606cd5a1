/**
 * Heroku Platform API shapes (snake_case, ISO times, nested `{id, name}` refs),
 * so scripts written for Heroku's API read ours.
 */
import type { App, Release, RoutingApp, Token, User } from '../../cluster/records.ts';
import type { Member } from '../access/members.ts';
import { gitUrl, webUrl, type ControlContext } from '../context.ts';
import type { DomainInfo } from '../domains.ts';
import type { DynoInfo } from '../dynos.ts';
import type { FormationEntry } from '../formation.ts';

const iso = (ms: number) => new Date(ms).toISOString();
const appRef = (app: App | string) => (typeof app === 'string' ? { name: app } : { id: app.id ?? app.name, name: app.name });

export function appJson(ctx: ControlContext, app: App, routing: RoutingApp | undefined, current: Release | undefined) {
  return {
    id: app.id ?? app.name,
    name: app.name,
    created_at: iso(app.createdAt),
    updated_at: iso(current?.createdAt ?? app.createdAt),
    released_at: current ? iso(current.createdAt) : null,
    current_release: current ? { id: current.id ?? null, version: current.version } : null,
    slug_size: current?.slug?.size ?? null,
    maintenance: routing?.maintenance ?? false,
    web_url: webUrl(ctx, app.name),
    git_url: gitUrl(ctx, app.name),
    owner: { email: app.owner },
    stack: { name: app.stack },
    build_stack: { name: app.stack },
    buildpacks: app.buildpacks,
    region: { name: 'local' },
    routing: routing ? { affinity: routing.affinity, balance_factor: routing.balanceFactor } : null,
  };
}

export function releaseJson(r: Release, currentVersion: number | undefined) {
  return {
    id: r.id ?? `${r.app}-v${r.version}`,
    version: r.version,
    description: r.description,
    status: r.status ?? 'succeeded',
    current: r.version === currentVersion,
    created_at: iso(r.createdAt),
    updated_at: iso(r.phase?.finishedAt ?? r.createdAt),
    output_stream_url: r.phase ? `/apps/${r.app}/releases/${r.version}/output` : null,
    release_phase: r.phase ? { dyno: r.phase.dyno ?? null, exit_code: r.phase.exitCode ?? null, error: r.phase.error ?? null, started_at: iso(r.phase.startedAt), finished_at: r.phase.finishedAt ? iso(r.phase.finishedAt) : null } : null,
    user: { email: r.author },
    app: appRef(r.app),
    slug: r.slug ? { id: r.slug.id, checksum: `SHA256:${r.slug.sha256}`, size: r.slug.size } : null,
    process_types: r.processTypes,
    addon_plan_names: [] as string[],
  };
}

export function formationJson(app: string, f: FormationEntry) {
  return { id: `${app}:${f.type}`, app: appRef(app), type: f.type, quantity: f.quantity, size: f.size, command: f.command };
}

export function dynoJson(app: string, d: DynoInfo) {
  return {
    id: `${app}:${d.name}`,
    app: appRef(app),
    name: d.name,
    type: d.type,
    state: d.state,
    size: d.size,
    command: d.command,
    release: { version: d.release },
    host: d.host,
    node: d.node,
    restarts: d.restarts,
    message: d.message || null,
    created_at: iso(d.createdAt),
    updated_at: iso(d.since),
    since: iso(d.since),
    attach_url: null,
  };
}

export function domainJson(d: DomainInfo) {
  return {
    id: d.hostname,
    hostname: d.hostname,
    kind: d.kind === 'default' ? 'heroku' : 'custom',
    app: appRef(d.app),
    cname: null,
    status: 'succeeded',
    created_at: iso(d.createdAt),
  };
}

/** Heroku's authorization shape; `access_token.token` only in the create response. */
export function tokenJson(t: Token, plaintext?: string, now = Date.now()) {
  const expiresIn = t.expiresAt === undefined ? null : Math.max(0, Math.round((t.expiresAt - now) / 1000));
  return {
    id: t.id,
    description: t.name,
    scope: [t.scope ?? 'global'],
    app: t.app ? { name: t.app } : null,
    user: { email: t.user },
    created_at: iso(t.createdAt),
    updated_at: iso(t.createdAt),
    expires_at: t.expiresAt === undefined ? null : iso(t.expiresAt),
    access_token: plaintext ? { id: t.id, token: plaintext, expires_in: expiresIn } : null,
  };
}

export function userJson(u: User) {
  return { id: u.id, email: u.email, admin: u.admin, created_at: iso(u.createdAt), created_by: u.createdBy };
}

/** Heroku's collaborator shape (the owner is listed too, with role `owner`). */
export function collaboratorJson(app: App, m: Member) {
  return {
    id: m.id,
    app: appRef(app),
    role: m.role,
    permissions: [],
    user: { email: m.user, federated: false },
    created_at: iso(m.createdAt),
    updated_at: iso(m.createdAt),
  };
}
