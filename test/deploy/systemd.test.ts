/**
 * The systemd units of deploy/ parse and pass `systemd-analyze verify` (when this
 * host has systemd-analyze), with ExecStart pointed at this checkout's CLI since
 * verify checks that the binary exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, PACKAGE_ROOT } from '../../lib/package.ts';

const UNITS = join(PACKAGE_ROOT, 'deploy', 'systemd');
// Optional: systemd is not in install-deps.sh (a container host may have none); without it these skip.
const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

for (const name of readdirSync(UNITS).filter((f) => f.endsWith('.service'))) {
  test(`${name}: systemd-analyze verify finds nothing`, { skip: hasAnalyze ? false : 'systemd-analyze is not installed' }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'dm-units-'));
    try {
      const text = readFileSync(join(UNITS, name), 'utf8').replaceAll('/usr/local/bin/dynomesh', BIN);
      writeFileSync(join(dir, name), text);
      const r = spawnSync('systemd-analyze', ['verify', '--man=no', join(dir, name)], { encoding: 'utf8' });
      // Missing EnvironmentFile= and the absent etcd.service are this host's business, not the unit's.
      const problems = r.stderr.split('\n').filter((l) => l.trim() && !/etcd\.service|EnvironmentFile|\/etc\/dynomesh|Failed to prepare filename/.test(l));
      assert.deepEqual(problems, [], r.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('control and dyno-node keep their state root-owned under /var/lib/dynomesh', () => {
  for (const name of ['dynomesh-control.service', 'dynomesh-dyno-node.service']) {
    const text = readFileSync(join(UNITS, name), 'utf8');
    assert.match(text, /^StateDirectory=dynomesh$/m, name);
    assert.match(text, /^StateDirectoryMode=0700$/m, name);
    assert.match(text, /^User=root$/m, name);
  }
  assert.ok(execFileSync(process.execPath, [BIN, '--version'], { encoding: 'utf8' }).trim());
});
