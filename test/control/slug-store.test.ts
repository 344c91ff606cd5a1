/** The directory slug store: content-addressed by sha256 while streaming, with a size limit that leaves nothing behind. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DirSlugStore, SlugTooLargeError } from '../../control/slugs/store.ts';

describe('directory slug store', () => {
  test('put hashes while streaming; get/has/delete/list; size limit leaves nothing behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dynomesh-slugs-'));
    try {
      const store = new DirSlugStore(dir);
      const body = Buffer.alloc(300_000, 7);
      const stored = await store.put(Readable.from([body.subarray(0, 1000), body.subarray(1000)]));
      assert.equal(stored.sha256, createHash('sha256').update(body).digest('hex'));
      assert.equal(stored.size, body.length);
      assert.equal(await store.has(stored.sha256), true);
      const got = await store.get(stored.sha256);
      const chunks: Buffer[] = [];
      for await (const c of got!.stream) chunks.push(c as Buffer);
      assert.deepEqual(Buffer.concat(chunks), body);
      assert.deepEqual((await store.list()).map((s) => s.sha256), [stored.sha256]);
      await assert.rejects(store.put(Readable.from([body]), { maxBytes: 1000 }), SlugTooLargeError);
      assert.deepEqual(readdirSync(dir), [`${stored.sha256}.tgz`], 'no partial file left');
      assert.equal(await store.get('../../etc/passwd'), undefined);
      assert.equal(await store.delete(stored.sha256), true);
      assert.equal(await store.delete(stored.sha256), false);
      assert.equal(await store.has(stored.sha256), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
