/** The CLI never sends its token over plain HTTP to another machine unless told `--insecure`. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { isLoopbackHost, plainHttpRefusal, takeInsecureFlag } from '../../cli/transport.ts';

const BIN = join(import.meta.dirname, '../../bin/dynomesh.js');

describe('token transport', () => {
  test('loopback and https are fine; plain HTTP elsewhere is refused unless insecure', () => {
    for (const h of ['127.0.0.1', '127.3.4.5', 'localhost', 'api.localhost', '[::1]']) assert.ok(isLoopbackHost(h), h);
    for (const h of ['10.0.0.5', 'api.example.com', '128.0.0.1', 'localhost.example.com']) assert.ok(!isLoopbackHost(h), h);
    const saved = process.env.DYNOMESH_INSECURE;
    delete process.env.DYNOMESH_INSECURE;
    try {
      assert.equal(plainHttpRefusal('http://127.0.0.1:5050'), null);
      assert.equal(plainHttpRefusal('https://api.example.com'), null);
      assert.match(plainHttpRefusal('http://api.example.com:5050') ?? '', /refusing to send your API token over plain HTTP to api\.example\.com:5050/);
      assert.deepEqual(takeInsecureFlag(['node', 'dynomesh', 'apps', '--insecure']), ['node', 'dynomesh', 'apps']);
      assert.equal(plainHttpRefusal('http://api.example.com:5050'), null);
    } finally {
      if (saved === undefined) delete process.env.DYNOMESH_INSECURE;
      else process.env.DYNOMESH_INSECURE = saved;
    }
  });

  test('`dynomesh apps` against http://<not this machine> fails with one line, exit 1, before connecting', () => {
    const r = spawnSync(process.execPath, [BIN, 'apps'], {
      env: { PATH: process.env.PATH, HOME: '/nonexistent', DYNOMESH_CONFIG: '/nonexistent/cli.json', DYNOMESH_API_URL: 'http://10.255.255.1:5050', DYNOMESH_API_KEY: 'dm_x', LANG: 'C' },
      encoding: 'utf8', timeout: 30_000,
    });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /refusing to send your API token over plain HTTP to 10\.255\.255\.1:5050.*--insecure/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  });
});

describe('git credential helper', () => {
  test('gives git no token for a plain-HTTP API on another machine', async () => {
    const { answerCredential } = await import('../../cli/git.ts');
    const saved = { ...process.env };
    try {
      delete process.env.DYNOMESH_INSECURE;
      process.env.DYNOMESH_CONFIG = '/nonexistent/cli.json';
      process.env.DYNOMESH_API_KEY = 'dm_secret';
      process.env.DYNOMESH_API_URL = 'http://10.255.255.1:5050';
      assert.equal(await answerCredential('get', 'protocol=http\nhost=10.255.255.1:5050\n'), '');
      process.env.DYNOMESH_API_URL = 'https://api.example.com';
      assert.equal(await answerCredential('get', 'protocol=https\nhost=api.example.com\n'), 'username=dynomesh\npassword=dm_secret\n');
    } finally {
      process.env = saved;
    }
  });
});
