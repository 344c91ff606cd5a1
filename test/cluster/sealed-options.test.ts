import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadClusterKey, peerToken, seal, unseal } from '../../cluster/sealed.ts';
import { parseDuration, parsePort, parseUrlList } from '../../lib/options.ts';

describe('sealed config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dm-key-'));
  test('a key file is created 0600 and reused', () => {
    const path = join(dir, 'cluster.key');
    const a = loadClusterKey(path, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(loadClusterKey(path), a);
  });
  test('seal hides the plaintext and unseal restores it', () => {
    const key = loadClusterKey(join(dir, 'cluster.key'), true);
    const sealed = seal(key, { SECRET: 'hunter2' });
    assert.ok(!Buffer.from(sealed).toString('latin1').includes('hunter2'));
    assert.deepEqual(unseal(key, sealed), { SECRET: 'hunter2' });
  });
  test('a wrong key or tampered bytes are refused', () => {
    const key = loadClusterKey(join(dir, 'cluster.key'), true);
    const sealed = Buffer.from(seal(key, { A: '1' }));
    assert.throws(() => unseal(Buffer.alloc(32, 7), sealed), /wrong key/);
    sealed[sealed.length - 1]! ^= 1;
    assert.throws(() => unseal(key, sealed), /does not open/);
  });
  test('a missing or malformed key file says what to do', () => {
    assert.throws(() => loadClusterKey(join(dir, 'none.key')), /does not exist; copy it/);
    writeFileSync(join(dir, 'short.key'), 'abcd');
    assert.throws(() => loadClusterKey(join(dir, 'short.key')), /64 hex characters/);
  });
  test('the peer token is stable per key and differs across keys', () => {
    assert.equal(peerToken(Buffer.alloc(32, 1)), peerToken(Buffer.alloc(32, 1)));
    assert.notEqual(peerToken(Buffer.alloc(32, 1)), peerToken(Buffer.alloc(32, 2)));
  });
});

describe('option parsers', () => {
  test('ports', () => {
    assert.equal(parsePort('5000'), 5000);
    assert.throws(() => parsePort('70000'), /not a TCP port/);
    assert.throws(() => parsePort('x'), /not a TCP port/);
  });
  test('durations', () => {
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('2m'), 120_000);
    assert.equal(parseDuration('15'), 15);
    assert.throws(() => parseDuration('soon'), /not a duration/);
  });
  test('etcd URL lists', () => {
    assert.deepEqual(parseUrlList('http://a:2379, http://b:2379'), ['http://a:2379', 'http://b:2379']);
    assert.throws(() => parseUrlList('a:2379'), /http:\/\/ or https:\/\/|not a URL/);
    assert.throws(() => parseUrlList('http://a'), /no port/);
    assert.throws(() => parseUrlList(' , '), /at least one URL/);
  });
});
