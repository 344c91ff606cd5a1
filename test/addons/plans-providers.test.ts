/** Plans, configured providers and how an add-on is presented; control's refusal of a bad provider flag. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AddonProviders } from '../../control/addons/registry.ts';
import { addonJson, parsePlan } from '../../control/addons/routes.ts';
import { ControlError } from '../../control/errors.ts';

const BIN = fileURLToPath(new URL('../../bin/dynomesh.js', import.meta.url));

describe('plans, providers, presentation', () => {
  test('parsePlan', () => {
    assert.deepEqual(parsePlan('postgresql'), { service: 'postgresql' });
    assert.deepEqual(parsePlan('postgresql:standard'), { service: 'postgresql', plan: 'standard' });
    for (const bad of ['', 'Postgres', 'postgresql:', 'a:b:c', 42]) assert.throws(() => parsePlan(bad), ControlError);
  });

  test('no providers configured: the error says how to configure them', () => {
    assert.throws(() => new AddonProviders().get('postgresql'), /no add-on services are configured on this control plane; the operator starts control with --addon-postgresql or --addon-redis/);
    const p = AddonProviders.fromConfig({ redis: 'redis://127.0.0.1:1' }, Buffer.alloc(32));
    assert.deepEqual(p.services, ['redis']);
    assert.throws(() => p.get('postgresql'), /unknown add-on service "postgresql"; available: redis/);
  });

  test('addonJson has Heroku\'s shape', () => {
    const j = addonJson({ app: 'shop', name: 'DATABASE', id: 'i', service: 'postgresql', plan: 'mini', configVars: ['DATABASE_URL'], createdAt: 0, addonName: 'postgresql-cubic-12345', state: 'provisioned' });
    assert.deepEqual(j, {
      id: 'i', name: 'postgresql-cubic-12345', addon_service: { name: 'postgresql' }, plan: { name: 'postgresql:mini' }, app: { name: 'shop' },
      attachment: { name: 'DATABASE' }, config_vars: ['DATABASE_URL'], state: 'provisioned', created_at: '1970-01-01T00:00:00.000Z',
    });
  });

  test('dynomesh control refuses a bad --addon-postgresql with one line and exit 1, without echoing secrets', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-addons-flag-'));
    try {
      const r = await new Promise<{ code: number; stderr: string }>((resolve) => {
        execFile(process.execPath, [BIN, 'control', '--addon-postgresql', 'mysql://root:hunter2@db/x', '--listen', '127.0.0.1:0', '--data-dir', dir, '--cluster-key', join(dir, 'k'), '--etcd', 'http://127.0.0.1:1'],
          { env: { PATH: process.env.PATH, HOME: dir, DYNOMESH_LOG_LEVEL: 'silent' }, timeout: 30_000 }, (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? -1) : 0, stderr }));
      });
      assert.equal(r.code, 1);
      assert.equal(r.stderr, 'dynomesh control: the postgresql admin URL must look like postgres://admin:secret@host:5432/postgres\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
