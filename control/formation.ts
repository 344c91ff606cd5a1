/**
 * Formation: desired quantity and size per process type. Only types the current
 * release defines can be scaled (Heroku answers 422 for others). A bare quantity
 * keeps the size; scaling to 0 stops that type.
 */
import type { Cluster } from '../cluster/client.ts';
import { retryTxn } from '../cluster/retry-txn.ts';
import { DYNO_SIZES, type Formation, type ProcessFormation } from '../cluster/records.ts';
import { appNotFound, invalid } from './errors.ts';

export const MAX_QUANTITY = 100;

export interface FormationUpdate {
  type: string;
  quantity?: number;
  size?: string;
}

export interface FormationEntry extends ProcessFormation {
  type: string;
  command: string;
}

/** Lowercases and checks a size name (`Standard-2X` → `standard-2x`). */
export function normalizeSize(size: string): string {
  const s = size.trim().toLowerCase();
  if (!(s in DYNO_SIZES)) throw invalid(`dyno size "${size}" is unknown; use one of ${Object.keys(DYNO_SIZES).join(', ')}`);
  return s;
}

/** Parses the body of a batch or per-type PATCH into updates; throws 422 with what is wrong. */
export function parseUpdates(body: unknown, typeFromPath?: string): FormationUpdate[] {
  const raw: unknown[] = typeFromPath !== undefined ? [{ ...(body as object), type: typeFromPath }]
    : body && typeof body === 'object' && Array.isArray((body as { updates?: unknown }).updates) ? (body as { updates: unknown[] }).updates
    : [];
  if (typeFromPath === undefined && raw.length === 0) throw invalid('expected {"updates": [{"type": "web", "quantity": 2, "size": "standard-1x"}]}');
  const out: FormationUpdate[] = [];
  for (const u of raw) {
    if (!u || typeof u !== 'object') throw invalid('each formation update must be an object with type, quantity and/or size');
    const { type, quantity, size } = u as Record<string, unknown>;
    if (typeof type !== 'string' || type === '') throw invalid('each formation update needs a process "type"');
    if (type === 'release') throw invalid('the release process type runs once per release (the release phase); it cannot be scaled');
    const q = typeof quantity === 'string' && /^\d+$/.test(quantity) ? Number(quantity) : quantity;
    if (q !== undefined && (typeof q !== 'number' || !Number.isInteger(q) || q < 0 || q > MAX_QUANTITY)) {
      throw invalid(`quantity for ${type} must be a whole number from 0 to ${MAX_QUANTITY}`);
    }
    if (size !== undefined && typeof size !== 'string') throw invalid(`size for ${type} must be a string such as standard-1x`);
    if (q === undefined && size === undefined) throw invalid(`update for ${type} needs a quantity or a size`);
    out.push({ type, ...(q !== undefined ? { quantity: q as number } : {}), ...(size !== undefined ? { size: normalizeSize(size) } : {}) });
  }
  return out;
}

/** The formation as users see it: one entry per process type of the current release. */
export async function listFormation(cluster: Cluster, app: string): Promise<FormationEntry[]> {
  const k = cluster.keys;
  const [a, cur, form] = await Promise.all([cluster.get(k.app(app)), cluster.get(k.current(app)), cluster.get(k.formation(app))]);
  if (!a) throw appNotFound(app);
  const release = cur ? (await cluster.get(k.release(app, cur.value.version)))?.value : undefined;
  return entries(release?.processTypes ?? {}, form?.value ?? { types: {} });
}

function entries(processTypes: Record<string, string>, formation: Formation): FormationEntry[] {
  // `release` runs in the release phase, never as a formation (as Heroku's ps:scale and formation list).
  return Object.keys(processTypes).filter((t) => t !== 'release').sort().map((type) => ({
    type,
    command: processTypes[type]!,
    quantity: formation.types[type]?.quantity ?? 0,
    size: formation.types[type]?.size ?? 'standard-1x',
  }));
}

/**
 * Applies updates in one transaction guarded on the formation and the current release:
 *
 *   keys:    formation/{app}; apps/{app} and current/{app} compare only
 *   compare: the app's create revision, current's and formation's mod revisions are what we read
 *   result:  the formation entries after the updates (each type must be in the current release)
 */
export async function updateFormation(cluster: Cluster, app: string, updates: FormationUpdate[]): Promise<FormationEntry[]> {
  const k = cluster.keys;
  return retryTxn(cluster, `${app}'s formation kept changing; try again`, async () => {
    const [a, cur, form] = await Promise.all([cluster.get(k.app(app)), cluster.get(k.current(app)), cluster.get(k.formation(app))]);
    if (!a) throw appNotFound(app);
    const release = cur ? (await cluster.get(k.release(app, cur.value.version)))?.value : undefined;
    const processTypes = release?.processTypes ?? {};
    const types = { ...(form?.value.types ?? {}) };
    for (const u of updates) {
      if (!(u.type in processTypes)) {
        const known = Object.keys(processTypes);
        throw invalid(
          `Couldn't find that process type (${u.type}) in the current release v${release?.version ?? 0} of ${app}` +
            (known.length ? `; it defines ${known.join(', ')}` : '; deploy code with a Procfile first'),
        );
      }
      const prev = types[u.type] ?? { quantity: 0, size: 'standard-1x' };
      types[u.type] = { quantity: u.quantity ?? prev.quantity, size: u.size ?? prev.size };
    }
    const next: Formation = { types };
    return {
      compares: [
        { key: k.app(app), target: 'create', op: '==', value: a.createRevision },
        { key: k.current(app), target: 'mod', op: '==', value: cur?.modRevision ?? 0 },
        { key: k.formation(app), target: 'mod', op: '==', value: form?.modRevision ?? 0 },
      ],
      ops: [{ put: k.formation(app), value: cluster.value(k.formation(app), next) }],
      result: entries(processTypes, next),
    };
  });
}
