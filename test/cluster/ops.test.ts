import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Cluster } from '../../cluster/client.ts';
import { ConflictError } from '../../cluster/errors.ts';
import { createRelease, tryCreateRelease } from '../../cluster/ops.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();
const body = (d: string) => ({
  slug: null, processTypes: { web: 'npm start' }, config: new Uint8Array(), description: d, author: 't', createdAt: Date.now(),
});

describe('release creation is compare-and-swap', () => {
  test('of ten concurrent writers racing for the same version exactly one wins', async () => {
    const first = etcd.cluster();
    const clients = Array.from({ length: 10 }, () => new Cluster({ ...first.options }));
    const results = await Promise.allSettled(clients.map((c, i) => tryCreateRelease(c, 'race', body(`writer ${i}`))));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    // Writers that read after the winner committed aim at v2 and may win that; nobody may share a version.
    const versions = won.map((r) => (r as PromiseFulfilledResult<{ version: number }>).value.version);
    assert.equal(new Set(versions).size, versions.length, 'no version is written twice');
    assert.equal(versions.filter((v) => v === 1).length, 1, 'exactly one writer gets v1');
    for (const r of lost) assert.ok((r as PromiseRejectedResult).reason instanceof ConflictError);
    const all = await first.list(first.keys.releases('race'));
    assert.equal(all.entries.length, won.length);
    for (const c of clients) c.close();
  });

  test('twenty concurrent createRelease calls give v1..v20 with no gap', async () => {
    const first = etcd.cluster();
    const clients = Array.from({ length: 20 }, () => new Cluster({ ...first.options }));
    const made = await Promise.all(clients.map((c, i) => createRelease(c, 'busy', body(`change ${i}`))));
    assert.deepEqual(made.map((r) => r.version).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
    const current = await first.get(first.keys.current('busy'));
    assert.equal(current?.value.version, 20);
    const listed = await first.list(first.keys.releases('busy'));
    assert.deepEqual(listed.entries.map((e) => e.value.version), Array.from({ length: 20 }, (_, i) => i + 1));
    for (const c of clients) c.close();
  });
});
