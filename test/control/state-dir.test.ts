/**
 * Directories root works in must be root's (the daemon's) and unswappable: a
 * build dir or data dir owned by another user, writable by others, or under a
 * directory another user owns makes the daemon refuse to start, in one line.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureStateDir, stateDirProblem } from '../../lib/state-dir.ts';
import { useEtcd } from '../support/etcd.ts';

const root = process.getuid?.() === 0;
const NOBODY = 65534;
const etcd = useEtcd();

describe('state directories', { skip: root ? false : 'needs root (chown to another user)' }, () => {
  let base: string;
  before(() => {
    base = mkdtempSync(join(tmpdir(), 'dm-state-'));
  });
  after(() => rmSync(base, { recursive: true, force: true }));

  test('ours and 0700 is fine; another owner, group/other write, a swappable parent or a link are not', () => {
    assert.equal(stateDirProblem(ensureStateDir(join(base, 'ok'), 'data dir', '--data-dir'), 'data dir', '--data-dir'), undefined);
    const theirs = join(base, 'theirs');
    mkdirSync(theirs);
    chownSync(theirs, NOBODY, NOBODY);
    assert.equal(stateDirProblem(theirs, 'build dir', '--build-dir'), `build dir ${theirs} is owned by uid ${NOBODY}, not by this daemon's uid 0; remove it or pick another --build-dir`);
    const open = join(base, 'open');
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.match(stateDirProblem(open, 'data dir', '--data-dir')!, /is writable by group or others \(mode 0777\); chmod go-w/);
    const parent = join(base, 'parent');
    mkdirSync(join(parent, 'inner'), { recursive: true });
    chownSync(parent, NOBODY, NOBODY);
    assert.match(stateDirProblem(join(parent, 'inner'), 'data dir', '--data-dir')!, new RegExp(`sits in ${parent}, owned by uid ${NOBODY}, who could swap it`));
    const loose = join(base, 'loose');
    mkdirSync(join(loose, 'inner'), { recursive: true });
    chmodSync(loose, 0o777);
    assert.match(stateDirProblem(join(loose, 'inner'), 'data dir', '--data-dir')!, /writable by group or others \(mode 0777\); pick another --data-dir/);
    chmodSync(loose, 0o1777); // sticky, as /tmp: others cannot rename what is ours
    assert.equal(stateDirProblem(join(loose, 'inner'), 'data dir', '--data-dir'), undefined);
    symlinkSync(join(base, 'ok'), join(base, 'link'));
    assert.match(stateDirProblem(join(base, 'link'), 'data dir', '--data-dir')!, /is a symbolic link/);
  });

  test('dynomesh control with a build dir owned by another user refuses to start, in one line', () => {
    const builds = join(base, 'builds-of-nobody');
    mkdirSync(builds);
    chownSync(builds, NOBODY, NOBODY);
    const r = spawnSync(process.execPath, [
      'bin/dynomesh.js', 'control', '--etcd', etcd.server.endpoint, '--etcd-prefix', '/state-dir-test/', '--listen', '127.0.0.1:0',
      '--data-dir', join(base, 'data'), '--cluster-key', join(base, 'cluster.key'), '--build-dir', builds, '--isolation', 'off',
    ], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, DYNOMESH_LOG_LEVEL: 'silent' } });
    assert.notEqual(r.status, 0, r.stderr);
    assert.equal(r.stderr, `dynomesh control: build dir ${builds} is owned by uid ${NOBODY}, not by this daemon's uid 0; remove it or pick another --build-dir\n`);
  });

  test('dynomesh dyno-node with a data dir writable by others refuses to start, in one line', () => {
    const data = join(base, 'node-open');
    mkdirSync(data);
    chmodSync(data, 0o777);
    const r = spawnSync(process.execPath, ['bin/dynomesh.js', 'dyno-node', '--etcd', etcd.server.endpoint, '--data-dir', data, '--node-credential', join(base, 'none.credential')], {
      encoding: 'utf8', timeout: 60_000, env: { ...process.env, DYNOMESH_LOG_LEVEL: 'silent' },
    });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, `dynomesh dyno-node: data dir ${data} is writable by group or others (mode 0777); chmod go-w ${data}\n`);
  });
});
