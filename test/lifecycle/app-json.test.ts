/**
 * app.json through real git pushes (apps/setup): on the push that first puts code
 * live, env defaults, generated secrets, formation and add-ons are applied and the
 * postdeploy script runs; a required var with no value, an invalid field or another
 * stack fails the push naming the line and field; later pushes apply none of it again.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, useEtcd } from '../support/etcd.ts';
import { startRedis, type TestRedis } from '../addons/servers.ts';
import { Stack, type AppRepo } from './stack.ts';

const etcd = useEtcd();
const APP = 'setup';
const FIXTURE = join(import.meta.dirname, 'apps/setup');

interface Answer {
  dyno: string;
  greeting: string;
  apiToken: string;
  secretLength: number;
  redis: boolean;
  optional: string | null;
}

describe('app.json on git push', () => {
  let s: Stack;
  let redis: TestRedis;
  let repo: AppRepo;
  let markers: string;
  const config = async () => JSON.parse((await s.ok('config', '-a', APP, '--json')).stdout) as Record<string, string>;
  const releaseCount = async () => (JSON.parse((await s.ok('releases', '-a', APP, '--json')).stdout) as unknown[]).length;
  const formation = async () => {
    const f = await s.cluster.get(s.cluster.keys.formation(APP));
    return Object.fromEntries(Object.entries(f?.value.types ?? {}).map(([t, v]) => [t, `${v.quantity}:${v.size}`]));
  };
  const seeds = () => readFileSync(join(markers, 'seeds'), 'utf8').trim().split('\n');

  before(async () => {
    redis = await startRedis();
    s = await Stack.start(etcd, { env: { DYNOMESH_ADDON_REDIS: redis.adminUrl } });
    markers = join(s.dir, 'markers');
    mkdirSync(markers);
    chmodSync(markers, 0o777);
    await s.ok('apps:create', APP);
    const files: Record<string, string> = {};
    for (const f of readdirSync(FIXTURE)) files[f] = readFileSync(join(FIXTURE, f), 'utf8');
    repo = await s.repo(files);
  });
  after(async () => {
    await s?.stop();
    await redis?.destroy();
  });

  test('a required env var with no value fails the first push, naming its line; nothing changes', async () => {
    const before = await releaseCount();
    const push = await s.push(repo, APP);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /app\.json line 7, env\.API_TOKEN: required and has no value \(token for the API\); set it with `dynomesh config:set API_TOKEN=\.\.\. -a setup` and push again/);
    assert.equal(await releaseCount(), before);
    assert.deepEqual(Object.keys(await config()), []);
    assert.equal((await s.cluster.list(s.cluster.keys.addons(APP))).entries.length, 0, 'no add-on before the build succeeds');
  });

  test('the first deploy applies env, formation and add-ons, then runs postdeploy', async () => {
    await s.ok('config:set', 'API_TOKEN=tok-123', `MARKER_DIR=${markers}`, '-a', APP);
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    for (const line of [
      'remote: -----> Reading app.json',
      'remote:        Ignored: scripts.pr-predestroy (review apps are not supported)',
      'remote:        Setting config vars from app.json: GREETING, SECRET_KEY_BASE',
      'remote:        Provisioning redis (app.json)...',
      'remote: -----> Running postdeploy script (app.json, first deploy only)...',
      'remote: seeded the database',
      'remote:        Postdeploy script done.',
    ]) assert.ok(push.stderr.includes(line), `missing "${line}" in:\n${push.stderr}`);
    const cfg = await config();
    assert.equal(cfg.GREETING, 'hello');
    assert.match(cfg.SECRET_KEY_BASE!, /^[0-9a-f]{64}$/);
    assert.equal(cfg.API_TOKEN, 'tok-123', 'a var already set is kept');
    assert.ok(cfg.REDIS_URL?.startsWith('redis://'), 'the add-on attached REDIS_URL');
    assert.ok(!('OPTIONAL' in cfg), 'an optional var with no value stays unset');
    assert.deepEqual(await formation(), { web: '2:standard-1x', worker: '1:standard-1x' });
    await s.settled(APP, 2);
    const a = JSON.parse((await s.get(APP)).body) as Answer;
    assert.deepEqual([a.greeting, a.apiToken, a.secretLength, a.redis], ['hello', 'tok-123', 64, true]);
    assert.deepEqual(seeds(), ['hello']);
  });

  test('later pushes apply none of it again', async () => {
    const before = await config();
    await s.ok('config:set', 'GREETING=changed', '-a', APP);
    await s.ok('ps:scale', 'web=1', '-a', APP);
    await repo.commit({ 'server.js': readFileSync(join(FIXTURE, 'server.js'), 'utf8') + '// v2\n' }, 'v2');
    const push = await s.push(repo, APP);
    assert.equal(push.code, 0, push.stderr);
    assert.ok(!push.stderr.includes('Setting config vars from app.json'), push.stderr);
    assert.ok(!push.stderr.includes('postdeploy'), push.stderr);
    const cfg = await config();
    assert.equal(cfg.GREETING, 'changed');
    assert.equal(cfg.SECRET_KEY_BASE, before.SECRET_KEY_BASE);
    assert.equal((await s.cluster.list(s.cluster.keys.addons(APP))).entries.length, 1, 'one add-on');
    assert.deepEqual(await formation(), { web: '1:standard-1x', worker: '1:standard-1x' });
    assert.deepEqual(seeds(), ['hello']);
    await s.settled(APP, 1);
  });

  test('an invalid app.json or another stack fails the push with the line and field', async () => {
    const before = await releaseCount();
    const good = readFileSync(join(FIXTURE, 'app.json'), 'utf8');
    await repo.commit({ 'app.json': good.replace('"quantity": 2', '"quantity": "two"') }, 'bad formation');
    let push = await s.push(repo, APP);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /remote:  !     app\.json line 11, formation\.web\.quantity: must be a whole number from 0 to 100/);
    await repo.commit({ 'app.json': good.replace('"stack": "dynomesh-1"', '"stack": "heroku-24"') }, 'other stack');
    push = await s.push(repo, APP);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /app\.json line 16, stack: "heroku-24" is not this app's stack \(dynomesh-1\)/);
    await repo.commit({ 'app.json': good.replace('"web": { "quantity": 2 },', '"web": { "quantity": 2 }') }, 'syntax error');
    push = await s.push(repo, APP);
    assert.notEqual(push.code, 0);
    assert.match(push.stderr, /app\.json line 12: not valid JSON \(column 5: expected "," or "}"\)/);
    assert.equal(await releaseCount(), before);
    await eventually(async () => (await s.get(APP)).status === 200, 10_000, 'the app still serves');
  });
});
