/**
 * The scheduler's decision, as a pure function of etcd state: which placements to
 * create and which to delete so every app runs its formation of its current
 * release on live nodes. Running it again on the result plans nothing (idempotent).
 *
 * Rules, in order:
 *  - placements on nodes whose lease is gone, or of apps that are gone, are deleted
 *    (their replacements are planned in the same pass);
 *  - per process type, dynos of the current release and size are "current", others "stale";
 *    missing current dynos are placed, extra ones removed (not-ready and highest index first);
 *  - web stale dynos stay until enough current ones are ready (preboot: routable web dynos
 *    never drop below the formation); other types swap at once, as Heroku does without preboot;
 *  - node choice: fits memory, fewest dynos of this app (spread), caches the slug,
 *    most free memory, then id; when nothing fits during a roll, one stale dyno is
 *    stopped at a time to make room (never fewer than formation-1 routable);
 *  - a draining node (label `drain=true`) takes no new dynos, and its dynos count as stale,
 *    so they move elsewhere by the same preboot rules before the node goes away;
 *  - one-off dynos (`command` set) are left alone until they finish or their node is gone.
 */
import { DYNO_SIZES, type Formation, type Placement } from '../../cluster/records.ts';

export interface AppState {
  name: string;
  /** The current release, if the app has one. */
  release: { version: number; processTypes: Record<string, string>; slug: string | null } | undefined;
  formation: Formation;
}

export interface NodeState {
  id: string;
  memoryMb: number;
  slugs: string[];
  /** Label `drain=true`: take no new dynos; its dynos are replaced elsewhere, web ones with preboot. */
  draining?: boolean;
}

export interface PlacedDyno {
  node: string;
  placement: Placement;
  /** Up on its release (status `up` or a published endpoint), so it takes traffic. */
  ready: boolean;
  /** A one-off dyno whose process ended (status `down` on its node): its placement can go. */
  finished?: boolean;
}

export interface World {
  apps: AppState[];
  nodes: NodeState[];
  placements: PlacedDyno[];
}

export type Action =
  | { op: 'put'; node: string; placement: Placement; reason: string }
  | { op: 'delete'; node: string; app: string; dyno: string; reason: string };

export interface Plan {
  actions: Action[];
  /** Dynos that fit on no node: `app/type` → how many are missing. */
  unplaced: Record<string, number>;
}

export const sizeMb = (size: string): number => DYNO_SIZES[size] ?? 512;
const indexOf = (dyno: string): number => Number(dyno.slice(dyno.lastIndexOf('.') + 1));

export function plan(world: World, now = Date.now()): Plan {
  const actions: Action[] = [];
  const unplaced: Record<string, number> = {};
  const nodes = new Map(world.nodes.map((n) => [n.id, n]));
  const apps = new Map(world.apps.map((a) => [a.name, a]));
  const used = new Map<string, number>(world.nodes.map((n) => [n.id, 0]));
  const live: PlacedDyno[] = [];

  const remove = (d: PlacedDyno, reason: string) => {
    actions.push({ op: 'delete', node: d.node, app: d.placement.app, dyno: d.placement.dyno, reason });
    if (used.has(d.node)) used.set(d.node, used.get(d.node)! - d.placement.memoryMb);
  };

  for (const d of world.placements) {
    if (!nodes.has(d.node)) {
      actions.push({ op: 'delete', node: d.node, app: d.placement.app, dyno: d.placement.dyno, reason: 'node-gone' });
      continue;
    }
    used.set(d.node, used.get(d.node)! + d.placement.memoryMb);
    if (!apps.has(d.placement.app)) remove(d, 'app-gone');
    else if (d.placement.command !== undefined && d.finished) remove(d, 'one-off-finished');
    else live.push(d);
  }

  for (const app of [...apps.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    const mine = live.filter((d) => d.placement.app === app.name);
    const onNode = new Map<string, number>();
    for (const d of mine) onNode.set(d.node, (onNode.get(d.node) ?? 0) + 1);
    const pass: AppPass = {
      app, world, nodes, used, onNode, actions, unplaced, now,
      names: new Set(mine.map((d) => d.placement.dyno)),
      drop: (d, reason) => {
        remove(d, reason);
        onNode.set(d.node, (onNode.get(d.node) ?? 1) - 1);
      },
    };
    const managed = mine.filter((d) => d.placement.command === undefined);
    const types = new Set([...Object.keys(app.formation.types), ...managed.map((d) => d.placement.type)]);
    for (const type of [...types].sort()) planType(pass, type, managed.filter((d) => d.placement.type === type));
  }
  return { actions, unplaced };
}

/** What the process types of one app share in a pass: the cluster's memory and the app's spread and names. */
interface AppPass {
  app: AppState;
  world: World;
  nodes: Map<string, NodeState>;
  /** Memory placed per node, including this pass's actions. */
  used: Map<string, number>;
  /** This app's dynos per node. */
  onNode: Map<string, number>;
  /** This app's dyno names, taken ones included. */
  names: Set<string>;
  actions: Action[];
  unplaced: Record<string, number>;
  drop(d: PlacedDyno, reason: string): void;
  now: number;
}

/** One process type of one app: scale down, place what is missing (making room in a roll), then retire stale dynos. */
function planType(pass: AppPass, type: string, ofType: PlacedDyno[]): void {
  const { app, nodes, drop } = pass;
  const defined = app.release?.processTypes[type] !== undefined;
  const want = defined ? (app.formation.types[type]?.quantity ?? 0) : 0;
  const size = app.formation.types[type]?.size ?? 'standard-1x';
  const isCurrent = (d: PlacedDyno) =>
    d.placement.release === app.release?.version && d.placement.size === size && !nodes.get(d.node)?.draining;
  const current = ofType.filter(isCurrent);
  const stale = ofType.filter((d) => !isCurrent(d));

  // Too many current dynos: stop the not-ready and highest-numbered first.
  current.sort((a, b) => Number(a.ready) - Number(b.ready) || indexOf(b.placement.dyno) - indexOf(a.placement.dyno));
  while (current.length > want) drop(current.shift()!, 'scale-down');

  placeMissing(pass, type, size, want - current.length, current, stale);

  if (type === 'web' && want > 0) {
    // Preboot: keep ready stale web dynos until the current ones can carry the formation.
    // A not-ready old dyno carries no traffic, so it goes, unless it is only stale because its
    // node drains (it may still come up, and there may be nowhere else to run).
    const movingOnly = (d: PlacedDyno) => d.placement.release === app.release?.version && d.placement.size === size;
    for (const d of stale.filter((s) => !s.ready && !movingOnly(s))) drop(d, 'replaced');
    const ready = stale.filter((s) => s.ready || movingOnly(s)).sort((a, b) => Number(a.ready) - Number(b.ready) || indexOf(b.placement.dyno) - indexOf(a.placement.dyno));
    const keep = Math.max(0, want - current.filter((d) => d.ready).length);
    for (const d of ready.slice(0, Math.max(0, ready.length - keep))) drop(d, 'replaced');
  } else {
    for (const d of stale) drop(d, want > 0 ? 'replaced' : 'scale-down');
  }
}

/**
 * Places `missing` dynos of `type` (added to `current`); when nothing fits, records them as
 * unplaced and stops one stale dyno (removed from `stale`) to make room for the next pass.
 */
function placeMissing(pass: AppPass, type: string, size: string, missing: number, current: PlacedDyno[], stale: PlacedDyno[]): void {
  const { app, nodes, used, onNode, names } = pass;
  const mb = sizeMb(size);
  while (missing > 0) {
    const node = pickNode(pass.world.nodes, used, onNode, mb, app.release?.slug ?? null);
    if (!node) {
      pass.unplaced[`${app.name}/${type}`] = missing;
      // Nothing fits: make room by stopping one stale dyno, once every placed current dyno is ready.
      // (Only a dyno on a node that takes new dynos frees useful room; a draining node's dynos stay.)
      const roomy = stale.filter((d) => !nodes.get(d.node)?.draining);
      const candidate = roomy.filter((d) => !d.ready)[0] ?? roomy[0];
      if (candidate && current.every((d) => d.ready)) {
        stale.splice(stale.indexOf(candidate), 1);
        pass.drop(candidate, 'make-room');
      }
      return;
    }
    let i = 1;
    while (names.has(`${type}.${i}`)) i++;
    const placement: Placement = {
      app: app.name, dyno: `${type}.${i}`, type, release: app.release!.version, size, memoryMb: mb, restartNonce: 0, createdAt: pass.now,
    };
    names.add(placement.dyno);
    used.set(node, used.get(node)! + mb);
    onNode.set(node, (onNode.get(node) ?? 0) + 1);
    pass.actions.push({ op: 'put', node, placement, reason: stale.length ? 'roll' : 'scale-up' });
    current.push({ node, placement, ready: false });
    missing--;
  }
}

/** A node for a one-off dyno of `app` (the same rules as formation dynos), or undefined when none fits. */
export function nodeForOneOff(world: World, app: string, mb: number): string | undefined {
  const used = new Map<string, number>(world.nodes.map((n) => [n.id, 0]));
  const onNode = new Map<string, number>();
  for (const d of world.placements) {
    if (!used.has(d.node)) continue;
    used.set(d.node, used.get(d.node)! + d.placement.memoryMb);
    if (d.placement.app === app) onNode.set(d.node, (onNode.get(d.node) ?? 0) + 1);
  }
  const slug = world.apps.find((a) => a.name === app)?.release?.slug ?? null;
  return pickNode(world.nodes, used, onNode, mb, slug);
}

function pickNode(
  nodes: NodeState[],
  used: Map<string, number>,
  onNode: Map<string, number>,
  mb: number,
  slug: string | null,
): string | undefined {
  let best: { id: string; score: [number, number, number] } | undefined;
  for (const n of nodes) {
    if (n.draining) continue;
    const free = n.memoryMb - (used.get(n.id) ?? 0);
    if (free < mb) continue;
    const score: [number, number, number] = [onNode.get(n.id) ?? 0, slug && n.slugs.includes(slug) ? 0 : 1, -free];
    if (!best || less(score, n.id, best.score, best.id)) best = { id: n.id, score };
  }
  return best?.id;
}

function less(a: [number, number, number], aid: string, b: [number, number, number], bid: string): boolean {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return aid < bid;
}
