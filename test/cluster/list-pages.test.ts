/**
 * Cluster.list against a real etcd: a prefix bigger than one gRPC reply is read in pages,
 * every page at the revision of the first.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Op } from '../../cluster/client.ts';
import { useEtcd } from '../support/etcd.ts';

const etcd = useEtcd();

describe('list in pages', () => {
  test('Cluster.list reads past one page (a gRPC reply is capped at 4 MB, so lists are paged at 5,000 keys)', async () => {
    const c = etcd.cluster();
    const ops: Op[] = [];
    for (let i = 0; i < 12_000; i++) {
      const k = c.keys.cordon(`node-${i}`);
      ops.push({ put: k, value: c.value(k, { node: `node-${i}`, by: 'test', reason: 'paging', createdAt: i }) });
    }
    for (let i = 0; i < ops.length; i += 128) await c.txn([], ops.slice(i, i + 128));
    const rev = await c.revision();
    const l = await c.list(c.keys.cordons());
    assert.equal(l.entries.length, 12_000);
    assert.equal(new Set(l.entries.map((e) => e.key)).size, 12_000);
    assert.equal(l.revision, rev);
    c.close();
  });
});
