/**
 * End to end through the CLI and the real git client against a real `dynomesh
 * control` process on real etcd: an admin adds alice and bob; alice creates an
 * app and pushes it; bob can neither see, clone, push, read config, run, read
 * logs, add a drain or an add-on, nor destroy it; after `access:add` bob deploys
 * and reads config; after `access:remove` he is refused on the very next command.
 * A deploy token of alice's for the app pushes but cannot read config.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Cluster } from '../../cluster/client.ts';
import { helperCommand } from '../../cli/git.ts';
import { useEtcd } from '../support/etcd.ts';
import { ADMIN, APPS, ROOT, remote, spawnControl, type ControlProc } from '../build/support.ts';

const etcd = useEtcd();
let cluster: Cluster;
let ctl: ControlProc;
let dir: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = dir): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const r: Run = { code: null, stdout: '', stderr: '' };
    p.stdout.on('data', (c: Buffer) => (r.stdout += c.toString()));
    p.stderr.on('data', (c: Buffer) => (r.stderr += c.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), 120_000);
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      r.code = code;
      resolve(r);
    });
  });
}

/** A person at a terminal: their own CLI config (and so their own token for git's credential helper). */
function person(name: string) {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH, HOME: join(dir, name), DYNOMESH_CONFIG: join(dir, `${name}.json`), DYNOMESH_LOG_LEVEL: 'warn',
    GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', LANG: 'C',
    GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: `${name}@example.com`, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: `${name}@example.com`,
  };
  return {
    env,
    cli: (args: string[], cwd = dir) => run(process.execPath, [join(ROOT, 'bin/dynomesh.js'), ...args], env, cwd),
    /** git with the CLI's credential helper, as `apps:create` configures it, for commands outside a configured repo. */
    git: (args: string[], cwd = dir) => run('git', ['-c', 'credential.helper=', '-c', `credential.helper=${helperCommand()}`, ...args], env, cwd),
  };
}

const ok = (r: Run, what: string) => assert.equal(r.code, 0, `${what}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
function refused(r: Run, what: string) {
  assert.equal(r.code, 1, `${what} should fail\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, /Couldn't find that app: shared\./, what);
  assert.equal(r.stderr.trim().split('\n').filter((l) => l.includes('▸')).length, 1, `${what}: one error line`);
}

describe('two users through the CLI and git', () => {
  const admin = () => person('admin');
  let alice: ReturnType<typeof person>;
  let bob: ReturnType<typeof person>;
  let appDir: string;

  before(async () => {
    cluster = etcd.cluster();
    ctl = await spawnControl(etcd, cluster.keys.prefix, ['--isolation', 'off']);
    dir = mkdtempSync(join(tmpdir(), 'dm-access-e2e-'));
    alice = person('alice');
    bob = person('bob');
  });
  after(async () => {
    await ctl?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('an admin adds two users; each logs in with the printed token', async () => {
    ok(await admin().cli(['login', '--api', ctl.url, '--token', ADMIN]), 'admin login');
    for (const [who, p] of [['alice', alice], ['bob', bob]] as const) {
      const add = await admin().cli(['users:add', `${who}@example.com`]);
      ok(add, `users:add ${who}`);
      assert.match(add.stderr, new RegExp(`Creating user ${who}@example.com\\.\\.\\. done`));
      const token = add.stdout.trim();
      assert.match(token, /^dm_/);
      ok(await p.cli(['login', '--api', ctl.url, '--token', token]), `${who} login`);
      assert.equal((await p.cli(['auth:whoami'])).stdout.trim(), `${who}@example.com`);
    }
    const users = await admin().cli(['users']);
    assert.match(users.stdout, /alice@example\.com\s+member/);
    const notAdmin = await alice.cli(['users']);
    assert.equal(notAdmin.code, 1);
    assert.match(notAdmin.stderr, /admin/);
  });

  test('alice creates an app and pushes it with git', async () => {
    appDir = join(dir, 'shared');
    cpSync(join(APPS, 'procfile'), appDir, { recursive: true });
    for (const args of [['init', '-q', '-b', 'main'], ['add', '-A'], ['commit', '-qm', 'first']]) ok(await run('git', args, alice.env, appDir), `git ${args[0]}`);
    ok(await alice.cli(['apps:create', 'shared'], appDir), 'apps:create');
    const push = await run('git', ['push', 'dynomesh', 'main'], alice.env, appDir);
    ok(push, 'alice pushes');
    assert.match(push.stderr, /Released v2/);
    assert.match((await alice.cli(['apps'])).stdout, /shared/);
  });

  test('bob, not a collaborator, can do nothing with it and sees nothing of it', async () => {
    const apps = await bob.cli(['apps']);
    ok(apps, 'bob apps');
    assert.doesNotMatch(apps.stdout, /shared/);
    refused(await bob.cli(['config', '-a', 'shared']), 'config');
    refused(await bob.cli(['config:set', 'X=1', '-a', 'shared']), 'config:set');
    refused(await bob.cli(['run', '-a', 'shared', 'echo', 'hi']), 'run');
    refused(await bob.cli(['logs', '-a', 'shared']), 'logs');
    refused(await bob.cli(['drains:add', 'syslog://127.0.0.1:514', '-a', 'shared']), 'drains:add');
    refused(await bob.cli(['addons:create', 'heroku-postgresql', '-a', 'shared']), 'addons:create');
    refused(await bob.cli(['apps:destroy', '-a', 'shared', '--confirm', 'shared']), 'apps:destroy');
    refused(await bob.cli(['access:add', 'bob@example.com', '-a', 'shared']), 'access:add himself');
    refused(await bob.cli(['git:clone', '-a', 'shared', join(dir, 'nope')]), 'git:clone');
    const url = `${ctl.url}/shared.git`;
    const clone = await bob.git(['clone', url, join(dir, 'bob-clone')]);
    assert.notEqual(clone.code, 0, clone.stderr);
    assert.match(clone.stderr, /not found/i);
    const push = await bob.git(['push', url, 'main'], appDir);
    assert.notEqual(push.code, 0, push.stderr);
    assert.ok(await cluster.get(cluster.keys.app('shared')), 'still there');
    assert.equal((await cluster.get(cluster.keys.current('shared')))?.value.version, 2, 'no release from bob');
  });

  test('after access:add, bob clones, deploys and reads config; after access:remove he is refused at once', async () => {
    const add = await alice.cli(['access:add', 'bob@example.com', '-a', 'shared']);
    ok(add, 'access:add');
    assert.match(add.stderr, /Adding bob@example\.com access to the app shared\.\.\. done/);
    const list = await alice.cli(['access', '-a', 'shared']);
    assert.match(list.stdout, /=== ⬢ shared Access List/);
    assert.match(list.stdout, /alice@example\.com\s+owner/);
    assert.match(list.stdout, /bob@example\.com\s+collaborator/);

    assert.match((await bob.cli(['apps'])).stdout, /shared/);
    const bobDir = join(dir, 'bob-clone');
    ok(await bob.cli(['git:clone', '-a', 'shared', bobDir]), 'bob clones');
    writeFileSync(join(bobDir, 'NOTES'), 'bob was here\n');
    ok(await run('git', ['add', '-A'], bob.env, bobDir), 'add');
    ok(await run('git', ['commit', '-qm', 'bob'], bob.env, bobDir), 'commit');
    const push = await run('git', ['push', 'dynomesh', 'main'], bob.env, bobDir);
    ok(push, 'bob pushes');
    assert.match(push.stderr, /Released v3/);
    ok(await bob.cli(['config:set', 'FROM=bob', '-a', 'shared']), 'bob config:set');
    assert.match((await bob.cli(['config', '-a', 'shared'])).stdout, /FROM:\s+bob/);
    const destroy = await bob.cli(['apps:destroy', '-a', 'shared', '--confirm', 'shared']);
    assert.equal(destroy.code, 1);
    assert.match(destroy.stderr, /only the owner/);

    const removed = await alice.cli(['access:remove', 'bob@example.com', '-a', 'shared']);
    ok(removed, 'access:remove');
    assert.match(removed.stderr, /Removing bob@example\.com access from the app shared\.\.\. done/);
    // "at once": the very next call is refused (no cached grant), however long a loaded host takes to answer it
    refused(await bob.cli(['config', '-a', 'shared']), 'config right after access:remove');
    const again = await run('git', ['push', 'dynomesh', 'main'], bob.env, bobDir);
    assert.notEqual(again.code, 0);
    assert.doesNotMatch((await bob.cli(['apps'])).stdout, /shared/);
  });

  test('a deploy token for the app pushes (CI) but cannot read config; transfer makes bob the owner', async () => {
    const made = await alice.cli(['authorizations:create', '--scope', 'deploy', '--app', 'shared', '--expires-in', '3600', '--short', '-d', 'ci']);
    ok(made, 'authorizations:create');
    const token = made.stdout.trim();
    // CI works on the latest commit (bob's clone has it) and holds only the deploy token, in the URL.
    const ciDir = join(dir, 'bob-clone');
    writeFileSync(join(ciDir, 'CI'), 'ci\n');
    ok(await run('git', ['add', '-A'], alice.env, ciDir), 'add');
    ok(await run('git', ['commit', '-qm', 'ci'], alice.env, ciDir), 'commit');
    const push = await run('git', ['-c', 'credential.helper=', 'push', remote(ctl.url, 'shared', token), 'main'], alice.env, ciDir);
    ok(push, 'CI pushes with its deploy token');
    assert.match(push.stderr, /Released v5/);
    const ci = person('ci');
    ci.env.DYNOMESH_API_URL = ctl.url;
    ci.env.DYNOMESH_API_KEY = token;
    const config = await ci.cli(['config', '-a', 'shared']);
    assert.equal(config.code, 1);
    assert.match(config.stderr, /scope \(deploy\)/);
    const list = await alice.cli(['authorizations']);
    assert.match(list.stdout, /ci\s+\S+\s+deploy \(shared\)/);

    const transfer = await alice.cli(['apps:transfer', 'bob@example.com', '-a', 'shared']);
    ok(transfer, 'apps:transfer');
    assert.match(transfer.stderr, /Transferring ⬢ shared to bob@example\.com\.\.\. done/);
    assert.match((await bob.cli(['access', '-a', 'shared'])).stdout, /bob@example\.com\s+owner[\s\S]*alice@example\.com\s+collaborator/);
  });
});
