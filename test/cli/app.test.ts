import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { appFromGitUrl, resolveApp } from '../../cli/app.ts';
import { configPath, credentials, readConfig, writeConfig } from '../../cli/config.ts';
import { addRemote, answerCredential, removeRemotesOf } from '../../cli/git.ts';

let dir: string;
const saved = { ...process.env };

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'dm-cli-app-'));
  process.env.DYNOMESH_CONFIG = join(dir, 'cli.json');
  delete process.env.DYNOMESH_APP;
  delete process.env.DYNOMESH_API_URL;
  delete process.env.DYNOMESH_API_KEY;
});
after(() => {
  process.env = saved;
  rmSync(dir, { recursive: true, force: true });
});

function repo(name: string): string {
  const r = join(dir, name);
  execFileSync('git', ['init', '-q', r]);
  return r;
}

describe('app resolution', () => {
  test('app names from git URLs', () => {
    assert.equal(appFromGitUrl('http://127.0.0.1:5050/my-app.git'), 'my-app');
    assert.equal(appFromGitUrl('https://api.example.com/shop.git/'), 'shop');
    assert.equal(appFromGitUrl('git@github.com:me/Thing.git'), undefined);
    assert.equal(appFromGitUrl('http://127.0.0.1:5050/'), undefined);
  });

  test('-a wins, then DYNOMESH_APP, then the dynomesh remote, then -r', () => {
    const r = repo('resolve');
    execFileSync('git', ['remote', 'add', 'dynomesh', 'http://127.0.0.1:5050/from-remote.git'], { cwd: r });
    execFileSync('git', ['remote', 'add', 'staging', 'http://127.0.0.1:5050/app-staging.git'], { cwd: r });
    execFileSync('git', ['remote', 'add', 'origin', 'git@github.com:me/Code_Base.git'], { cwd: r });
    assert.equal(resolveApp({ app: 'explicit' }, r), 'explicit');
    assert.equal(resolveApp({}, r), 'from-remote');
    assert.equal(resolveApp({ remote: 'staging' }, r), 'app-staging');
    assert.throws(() => resolveApp({ remote: 'origin' }, r), /does not point at a dynomesh app; pass -a <app>/);
    assert.throws(() => resolveApp({ remote: 'nope' }, r), /no remote named "nope"/);
    process.env.DYNOMESH_APP = 'from-env';
    try {
      assert.equal(resolveApp({}, r), 'from-env');
      assert.equal(resolveApp({ app: 'explicit' }, r), 'explicit');
    } finally {
      delete process.env.DYNOMESH_APP;
    }
  });

  test('a subdirectory of the repo resolves too; outside a repo the error says what to do', () => {
    const r = repo('subdir');
    execFileSync('git', ['remote', 'add', 'dynomesh', 'http://127.0.0.1:5050/deep.git'], { cwd: r });
    execFileSync('mkdir', ['-p', join(r, 'src/lib')]);
    assert.equal(resolveApp({}, join(r, 'src/lib')), 'deep');
    const plain = mkdtempSync(join(tmpdir(), 'dm-cli-norepo-'));
    try {
      assert.throws(() => resolveApp({}, plain), /no app specified: pass -a <app>, or run this in a git repo with a "dynomesh" remote/);
    } finally {
      rmSync(plain, { recursive: true, force: true });
    }
    assert.throws(() => resolveApp({ app: 'Bad_Name' }, r), /is not an app name/);
  });
});

describe('CLI config and git credentials', () => {
  test('the config file is written 0600 and the environment overrides it', () => {
    writeConfig({ apiUrl: 'http://127.0.0.1:5050', token: 'dm_secret_secret_secret', user: 'admin' });
    assert.equal(configPath(), join(dir, 'cli.json'));
    assert.equal(statSync(configPath()).mode & 0o777, 0o600);
    assert.deepEqual(readConfig(), { apiUrl: 'http://127.0.0.1:5050', token: 'dm_secret_secret_secret', user: 'admin' });
    assert.deepEqual(credentials(), { apiUrl: 'http://127.0.0.1:5050', token: 'dm_secret_secret_secret' });
    process.env.DYNOMESH_API_URL = 'http://10.0.0.1:5050/';
    process.env.DYNOMESH_API_KEY = 'dm_from_env_from_env';
    try {
      assert.deepEqual(credentials(), { apiUrl: 'http://10.0.0.1:5050', token: 'dm_from_env_from_env' });
    } finally {
      delete process.env.DYNOMESH_API_URL;
      delete process.env.DYNOMESH_API_KEY;
    }
    writeFileSync(configPath(), '{not json');
    assert.throws(() => readConfig(), /is not valid JSON; remove it and run `dynomesh login`/);
    writeConfig({ apiUrl: 'http://127.0.0.1:5050', token: 'dm_secret_secret_secret' });
  });

  test('the helper gives the token to our API host only, and only on get', async () => {
    assert.equal(await answerCredential('get', 'protocol=http\nhost=127.0.0.1:5050\n'), 'username=dynomesh\npassword=dm_secret_secret_secret\n');
    assert.equal(await answerCredential('get', 'protocol=http\nhost=evil.example.com\n'), '');
    assert.equal(await answerCredential('get', 'protocol=https\nhost=127.0.0.1:5050\n'), '');
    assert.equal(await answerCredential('store', 'protocol=http\nhost=127.0.0.1:5050\n'), '');
  });

  test('apps:create remote: git itself gets the token through the helper, none of it in .git/config', () => {
    const r = repo('remote');
    assert.equal(addRemote('dynomesh', 'http://127.0.0.1:5050/hello.git', r), 'added');
    assert.equal(addRemote('dynomesh', 'http://127.0.0.1:5050/hello.git', r), 'updated');
    const fill = spawnSync('git', ['credential', 'fill'], {
      cwd: r, input: 'protocol=http\nhost=127.0.0.1:5050\npath=hello.git\n\n', encoding: 'utf8',
      env: { ...process.env, GIT_TERMINAL_PROMPT: '0' },
    });
    assert.equal(fill.status, 0, fill.stderr);
    assert.match(fill.stdout, /^password=dm_secret_secret_secret$/m);
    assert.match(fill.stdout, /^username=dynomesh$/m);
    assert.ok(!readFileSync(join(r, '.git/config'), 'utf8').includes('dm_secret'));
    assert.equal(execFileSync('git', ['remote', 'get-url', 'dynomesh'], { cwd: r, encoding: 'utf8' }).trim(), 'http://127.0.0.1:5050/hello.git');
    assert.deepEqual(removeRemotesOf('hello', r), ['dynomesh']);
    assert.equal(spawnSync('git', ['remote', 'get-url', 'dynomesh'], { cwd: r }).status, 2);
  });
});
