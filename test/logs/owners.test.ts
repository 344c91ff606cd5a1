/** Which control instance owns an app's log stream (rendezvous hashing). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ownerOf, type LogMember } from '../../logplex/owners.ts';

describe('owners', () => {
  const m = (id: string): LogMember => ({ id, logs: `127.0.0.1:${id.length}`, api: `http://${id}` });
  test('rendezvous: every app has one owner; removing a member moves only its apps', () => {
    const three = [m('a'), m('b'), m('c')];
    const apps = Array.from({ length: 3000 }, (_v, i) => `app-${i}`);
    const before = new Map(apps.map((x) => [x, ownerOf(x, three)!.id]));
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (const o of before.values()) counts[o]!++;
    for (const n of Object.values(counts)) assert.ok(n > 800 && n < 1200, `balanced: ${JSON.stringify(counts)}`);
    const two = [three[0]!, three[2]!];
    for (const x of apps) {
      const now = ownerOf(x, two)!.id;
      if (before.get(x) !== 'b') assert.equal(now, before.get(x), `${x} moved though its owner stayed`);
    }
    assert.equal(ownerOf('x', []), undefined);
    // The member list's order does not matter.
    for (const x of apps.slice(0, 100)) assert.equal(ownerOf(x, [...three].reverse())!.id, before.get(x));
  });
});
