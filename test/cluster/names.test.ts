/**
 * One home for names: app names, process types and dyno names are spelled as a
 * pattern only in cluster/names.ts; every other module asks it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../lib/package.ts';
import { isAppName, isDynoName, isProcessType, typeOfDyno } from '../../cluster/names.ts';

test('the rules, as Heroku has them', () => {
  for (const ok of ['a', 'my-app', 'a1-b2', 'x'.repeat(30)]) assert.ok(isAppName(ok), ok);
  for (const bad of ['', '1app', 'My-app', 'my_app', 'x'.repeat(31), 'a.b']) assert.ok(!isAppName(bad), bad);
  for (const ok of ['web', 'worker_2', 'release']) assert.ok(isProcessType(ok), ok);
  for (const bad of ['', 'Web', '2web', 'web-1', 'web.1']) assert.ok(!isProcessType(bad), bad);
  for (const ok of ['web.1', 'run.4821', 'scheduler.12']) assert.ok(isDynoName(ok), ok);
  for (const bad of ['web', 'web.', '.1', 'web.x', 'Web.1']) assert.ok(!isDynoName(bad), bad);
  assert.equal(typeOfDyno('worker_2.3'), 'worker_2');
});

test('no other module of the daemons or the CLI spells these names as a regex', () => {
  const spelled = /\[a-z\]\[a-z0-9(?:-\]\{0,29\}|_\]\*|_\]\{)/;
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts') && !p.endsWith('cluster/names.ts') && spelled.test(readFileSync(p, 'utf8'))) found.push(p.slice(PACKAGE_ROOT.length + 1));
    }
  };
  for (const dir of ['cluster', 'control', 'dyno-node', 'router', 'cli', 'logplex', 'lib', 'container']) walk(join(PACKAGE_ROOT, dir));
  assert.deepEqual(found, [], 'use cluster/names.ts');
});
