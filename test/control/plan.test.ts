/** The scheduler's planner as a pure function: spread, capacity, slug cache, node loss, preboot rolls. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { plan, type Action, type AppState, type NodeState, type PlacedDyno, type World } from '../../control/scheduler/plan.ts';

const node = (id: string, memoryMb = 4096, slugs: string[] = []): NodeState => ({ id, memoryMb, slugs });
const app = (name: string, version: number, types: Record<string, number>, size = 'standard-1x'): AppState => ({
  name,
  release: { version, processTypes: Object.fromEntries(Object.keys(types).map((t) => [t, `run-${t}`])), slug: `slug-${version}` },
  formation: { types: Object.fromEntries(Object.entries(types).map(([t, q]) => [t, { quantity: q, size }])) },
});

/** Applies a plan the way etcd would end up after the txn. */
function apply(world: World, actions: Action[]): World {
  let placements = [...world.placements];
  for (const a of actions) {
    if (a.op === 'delete') placements = placements.filter((d) => !(d.node === a.node && d.placement.app === a.app && d.placement.dyno === a.dyno));
    else placements.push({ node: a.node, placement: a.placement, ready: false });
  }
  return { ...world, placements };
}

const markReady = (world: World, pred: (d: PlacedDyno) => boolean = () => true): World => ({
  ...world,
  placements: world.placements.map((d) => (pred(d) ? { ...d, ready: true } : d)),
});

const count = (w: World, a: string, type = 'web') => w.placements.filter((d) => d.placement.app === a && d.placement.type === type).length;
const perNode = (w: World) => {
  const m: Record<string, number> = {};
  for (const d of w.placements) m[d.node] = (m[d.node] ?? 0) + 1;
  return m;
};

describe('scheduler plan', () => {
  test('places a formation spread across nodes, named web.1..N, and is idempotent', () => {
    let w: World = { apps: [app('a', 2, { web: 4 })], nodes: [node('n1'), node('n2')], placements: [] };
    const p = plan(w);
    assert.equal(p.actions.length, 4);
    w = apply(w, p.actions);
    assert.deepEqual(perNode(w), { n1: 2, n2: 2 });
    assert.deepEqual(w.placements.map((d) => d.placement.dyno).sort(), ['web.1', 'web.2', 'web.3', 'web.4']);
    assert.ok(w.placements.every((d) => d.placement.release === 2 && d.placement.memoryMb === 512));
    assert.deepEqual(plan(w).actions, [], 'a second pass plans nothing');
    assert.deepEqual(plan(markReady(w)).actions, []);
  });

  test('respects node memory and reports what does not fit', () => {
    const w: World = { apps: [app('a', 1, { web: 5 }, 'standard-2x')], nodes: [node('n1', 2048), node('n2', 1024)], placements: [] };
    const p = plan(w);
    const after = apply(w, p.actions);
    assert.equal(count(after, 'a'), 3);
    assert.deepEqual(perNode(after), { n1: 2, n2: 1 });
    assert.deepEqual(p.unplaced, { 'a/web': 2 });
  });

  test('prefers a node that caches the slug when spread is equal', () => {
    const w: World = { apps: [app('a', 3, { web: 1 })], nodes: [node('n1', 8192), node('n2', 1024, ['slug-3'])], placements: [] };
    const [a] = plan(w).actions;
    assert.equal(a?.op === 'put' && a.node, 'n2');
  });

  test('spreads one app before filling the emptiest node with it', () => {
    const busy: PlacedDyno[] = [0, 1, 2].map((i) => ({
      node: 'n1', ready: true,
      placement: { app: 'b', dyno: `web.${i + 1}`, type: 'web', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: 0 },
    }));
    const w: World = { apps: [app('a', 1, { web: 2 }), app('b', 1, { web: 3 })], nodes: [node('n1', 8192), node('n2', 8192)], placements: busy };
    const after = apply(w, plan(w).actions);
    const nodesOfA = after.placements.filter((d) => d.placement.app === 'a').map((d) => d.node).sort();
    assert.deepEqual(nodesOfA, ['n1', 'n2']);
  });

  test("a dead node's dynos are deleted and re-placed on live nodes under the same names", () => {
    let w: World = { apps: [app('a', 1, { web: 2, worker: 1 })], nodes: [node('n1'), node('n2')], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    const onN2 = w.placements.filter((d) => d.node === 'n2').map((d) => d.placement.dyno).sort();
    assert.ok(onN2.length > 0);
    w = { ...w, nodes: [node('n1')] };
    const p = plan(w);
    assert.deepEqual(p.actions.filter((a) => a.op === 'delete').map((a) => a.reason), onN2.map(() => 'node-gone'));
    w = apply(w, p.actions);
    assert.ok(w.placements.every((d) => d.node === 'n1'));
    assert.equal(count(w, 'a'), 2);
    assert.equal(count(w, 'a', 'worker'), 1);
    assert.deepEqual(w.placements.map((d) => d.placement.dyno).sort(), ['web.1', 'web.2', 'worker.1']);
  });

  test('scaling 1 -> 5 -> 0', () => {
    let w: World = { apps: [app('a', 1, { web: 1 })], nodes: [node('n1'), node('n2'), node('n3')], placements: [] };
    w = apply(w, plan(w).actions);
    assert.equal(count(w, 'a'), 1);
    w = { ...w, apps: [app('a', 1, { web: 5 })] };
    w = apply(w, plan(w).actions);
    assert.equal(count(w, 'a'), 5);
    assert.deepEqual(Object.values(perNode(w)).sort(), [1, 2, 2]);
    w = { ...w, apps: [app('a', 1, { web: 0 })] };
    w = apply(w, plan(w).actions);
    assert.equal(count(w, 'a'), 0);
  });

  test('a new release rolls web with preboot: old dynos stay until new ones are ready', () => {
    let w: World = { apps: [app('a', 1, { web: 3 })], nodes: [node('n1'), node('n2')], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    w = { ...w, apps: [app('a', 2, { web: 3 })] };
    const routable = (x: World) => x.placements.filter((d) => d.placement.type === 'web' && d.ready).length;

    let p = plan(w);
    assert.equal(p.actions.filter((a) => a.op === 'put').length, 3);
    assert.equal(p.actions.filter((a) => a.op === 'delete').length, 0, 'nothing old stops before new dynos are up');
    w = apply(w, p.actions);
    assert.equal(routable(w), 3);
    const newNames = w.placements.filter((d) => d.placement.release === 2).map((d) => d.placement.dyno).sort();
    assert.deepEqual(newNames, ['web.4', 'web.5', 'web.6']);

    // one new dyno comes up: exactly one old one may go
    w = markReady(w, (d) => d.placement.dyno === 'web.4');
    p = plan(w);
    assert.deepEqual(p.actions.map((a) => a.op), ['delete']);
    w = apply(w, p.actions);
    assert.ok(routable(w) >= 3);

    w = markReady(w);
    w = apply(w, plan(w).actions);
    assert.deepEqual(w.placements.map((d) => `${d.placement.dyno}@v${d.placement.release}`).sort(), ['web.4@v2', 'web.5@v2', 'web.6@v2']);
    assert.deepEqual(plan(w).actions, []);
  });

  test('workers are swapped at once; crashed old web dynos go at once', () => {
    let w: World = { apps: [app('a', 1, { web: 1, worker: 2 })], nodes: [node('n1')], placements: [] };
    w = apply(w, plan(w).actions);
    w = markReady(w, (d) => d.placement.type === 'worker'); // old web never came up
    w = { ...w, apps: [app('a', 2, { web: 1, worker: 2 })] };
    w = apply(w, plan(w).actions);
    assert.deepEqual(w.placements.map((d) => `${d.placement.dyno}@v${d.placement.release}`).sort(), ['web.2@v2', 'worker.3@v2', 'worker.4@v2']);
  });

  test('when a roll has no room, one old dyno at a time makes room', () => {
    let w: World = { apps: [app('a', 1, { web: 2 })], nodes: [node('n1', 1024)], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    w = { ...w, apps: [app('a', 2, { web: 2 })] };
    const p = plan(w);
    assert.deepEqual(p.actions.map((a) => `${a.op}:${a.reason}`), ['delete:make-room']);
    w = apply(w, p.actions);
    w = apply(w, plan(w).actions); // the freed room takes one new dyno
    assert.equal(w.placements.filter((d) => d.placement.release === 2).length, 1);
    assert.equal(w.placements.filter((d) => d.ready).length, 1, 'one routable dyno left (formation - 1)');
    w = markReady(w);
    for (let i = 0; i < 4; i++) w = markReady(apply(w, plan(w).actions));
    assert.deepEqual(w.placements.map((d) => d.placement.release), [2, 2]);
  });

  test('a draining node takes nothing new and its dynos move off with preboot', () => {
    let w: World = { apps: [app('a', 1, { web: 2, worker: 1 })], nodes: [node('n1'), node('n2')], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    const onN1 = w.placements.filter((d) => d.node === 'n1').map((d) => d.placement.dyno);
    assert.ok(onN1.length > 0);
    w = { ...w, nodes: [{ ...node('n1'), draining: true }, node('n2'), node('n3')] };
    let p = plan(w);
    assert.ok(p.actions.filter((a) => a.op === 'put').every((a) => a.node !== 'n1'), 'nothing new on the draining node');
    w = apply(w, p.actions);
    const webOnN1 = w.placements.filter((d) => d.node === 'n1' && d.placement.type === 'web');
    assert.equal(webOnN1.length, onN1.filter((n) => n.startsWith('web')).length, 'web stays until its replacement is ready');
    assert.ok(w.placements.filter((d) => d.node === 'n1').every((d) => d.placement.type === 'web'), 'the worker moved at once');
    w = markReady(w);
    p = plan(w);
    w = apply(w, p.actions);
    assert.deepEqual(w.placements.filter((d) => d.node === 'n1'), []);
    assert.equal(count(w, 'a'), 2);
    assert.deepEqual(plan(markReady(w)).actions, []);
  });

  test('draining the only node keeps its dynos running (nowhere to go)', () => {
    let w: World = { apps: [app('a', 1, { web: 2 })], nodes: [node('n1')], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    w = { ...w, nodes: [{ ...node('n1'), draining: true }] };
    for (let i = 0; i < 3; i++) w = apply(w, plan(w).actions);
    assert.equal(count(w, 'a'), 2);
  });

  test('size change replaces dynos; gone apps and undefined types are removed; one-off dynos are left alone', () => {
    let w: World = { apps: [app('a', 1, { web: 1 }), app('b', 1, { web: 1 })], nodes: [node('n1')], placements: [] };
    w = markReady(apply(w, plan(w).actions));
    w.placements.push({
      node: 'n1', ready: true,
      placement: { app: 'a', dyno: 'run.1', type: 'run', release: 1, size: 'standard-1x', memoryMb: 512, restartNonce: 0, createdAt: 0, command: 'bash' },
    });
    w = { ...w, apps: [app('a', 1, { web: 1 }, 'standard-2x')] };
    let p = plan(w);
    assert.deepEqual(p.actions.map((a) => `${a.op}:${a.op === 'put' ? a.placement.app : a.app}:${a.reason}`).sort(), ['delete:b:app-gone', 'put:a:roll']);
    w = markReady(apply(w, p.actions));
    p = plan(w);
    w = apply(w, p.actions);
    assert.deepEqual(w.placements.map((d) => `${d.placement.dyno}:${d.placement.size}`).sort(), ['run.1:standard-1x', 'web.2:standard-2x']);
  });
});
