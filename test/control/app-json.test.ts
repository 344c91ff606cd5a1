/** app.json checking (every error names its line and field) and cron schedules. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAppJson } from '../../control/app-json/schema.ts';
import { nextRun, parseSchedule } from '../../control/cron/schedule.ts';

const errorOf = (text: string) => {
  try {
    parseAppJson(text);
  } catch (err) {
    return (err as Error).message;
  }
  return 'no error';
};

describe('app.json', () => {
  test('the fields dynomesh applies, with their defaults', () => {
    const a = parseAppJson(JSON.stringify({
      name: 'ignored by dynomesh', description: 'also fine',
      env: { GREETING: 'hi', SECRET_KEY: { generator: 'secret' }, OPTIONAL: { description: 'x', required: false }, TOKEN: { description: 'API token' } },
      formation: { web: { quantity: 2, size: 'Standard-2X' }, worker: { quantity: 1 } },
      addons: ['postgresql', { plan: 'redis:mini', as: 'CACHE', options: { x: 'y' } }],
      scripts: { postdeploy: 'bin/seed', 'pr-predestroy': 'bin/clean' },
      buildpacks: [{ url: 'heroku/nodejs' }],
      stack: 'dynomesh-1',
      cron: [{ command: 'bin/report', schedule: '*/5 * * * *' }],
      healthchecks: { web: { path: '/health', status: 204, attempts: 4, interval: 0.5 } },
    }, null, 2));
    assert.deepEqual(a.env, {
      GREETING: { value: 'hi', required: true }, SECRET_KEY: { generator: 'secret', required: true },
      OPTIONAL: { description: 'x', required: false }, TOKEN: { description: 'API token', required: true },
    });
    assert.deepEqual(a.formation, { web: { quantity: 2, size: 'standard-2x' }, worker: { quantity: 1 } });
    assert.deepEqual(a.addons, [{ service: 'postgresql', options: {} }, { service: 'redis', plan: 'mini', as: 'CACHE', options: { x: 'y' } }]);
    assert.equal(a.postdeploy, 'bin/seed');
    assert.deepEqual(a.ignored, ['scripts.pr-predestroy (review apps are not supported)']);
    assert.deepEqual(a.buildpacks, ['heroku/nodejs']);
    assert.deepEqual(a.cron, [{ command: 'bin/report', schedule: '*/5 * * * *' }]);
    assert.deepEqual(a.healthchecks, { path: '/health', status: 204, timeoutMs: 5000, attempts: 4, intervalMs: 500, waitMs: 0 });
    // Dokku's list of checks: the first is the startup check.
    assert.equal(parseAppJson('{"healthchecks": {"web": [{"path": "/up"}]}}').healthchecks?.path, '/up');
  });

  test('an invalid field fails with its line and path', () => {
    const text = '{\n  "env": {\n    "OK": "1"\n  },\n  "formation": {\n    "web": {\n      "quantity": "two"\n    }\n  }\n}\n';
    assert.equal(errorOf(text), 'app.json line 7, formation.web.quantity: must be a whole number from 0 to 100');
    assert.equal(errorOf('{\n"cron": [\n {"command": "x", "schedule": "* * *"}\n]}'), 'app.json line 3, cron.0.schedule: "* * *" needs five fields (minute hour day-of-month month day-of-week) or a macro such as @daily');
    assert.equal(errorOf('{"env": {"1BAD": "x"}}'), 'app.json line 1, env.1BAD: is not a valid config var name (letters, digits and _, not starting with a digit or __)');
    assert.equal(errorOf('{\n "addons": [\n  "postgresql",\n  {"plan": "Bad Plan"}\n ]\n}'), 'app.json line 4, addons.1.plan: "Bad Plan" is not service[:plan], e.g. postgresql or redis:mini');
    assert.equal(errorOf('{\n "scripts": {"predeploy": "x"}\n}'), 'app.json line 2, scripts.predeploy: is not a script dynomesh knows (postdeploy, pr-predestroy)');
    assert.equal(errorOf('{\n "healthchecks": {\n  "web": {"path": "health"}\n }\n}'), 'app.json line 3, healthchecks.web.path: must start with / and hold no spaces');
    assert.equal(errorOf('{\n "formation": {"release": {"quantity": 1}}\n}'), 'app.json line 2, formation.release: release runs in the release phase and cannot be scaled');
    assert.equal(errorOf('{"env": {"A": {"required": "yes"}}}'), 'app.json line 1, env.A.required: must be true or false');
  });

  test('a syntax error names its line and column', () => {
    assert.equal(errorOf('{\n  "env": {\n    "A": "1",\n  }\n}'), 'app.json line 4: not valid JSON (column 3: expected a "key")');
    assert.equal(errorOf('[1, 2]'), 'app.json line 1: must be a JSON object');
    assert.equal(errorOf('{"a": 1} x'), 'app.json line 1: not valid JSON (column 10: unexpected text after the end)');
  });
});

describe('cron schedules (UTC)', () => {
  const at = (iso: string) => Date.parse(iso);
  const next = (expr: string, from: string) => new Date(nextRun(parseSchedule(expr), at(from))!).toISOString();

  test('steps, ranges, lists, names and macros', () => {
    assert.equal(next('* * * * *', '2026-12-03T12:00:30Z'), '2026-12-03T12:01:00.000Z');
    assert.equal(next('*/5 * * * *', '2026-12-03T12:00:00Z'), '2026-12-03T12:05:00.000Z');
    assert.equal(next('0 9-17/4 * * mon-fri', '2026-12-04T18:00:00Z'), '2026-12-07T09:00:00.000Z'); // Friday evening -> Monday 9:00
    assert.equal(next('30 2 1,15 * *', '2026-12-03T00:00:00Z'), '2026-12-15T02:30:00.000Z');
    assert.equal(next('@daily', '2026-12-31T23:59:00Z'), '2027-01-01T00:00:00.000Z');
    assert.equal(next('0 0 29 feb *', '2026-03-01T00:00:00Z'), '2028-02-29T00:00:00.000Z');
    assert.equal(next('0 12 * * 7', '2026-12-03T00:00:00Z'), '2026-12-06T12:00:00.000Z'); // 7 is Sunday
    // Both day fields restricted: either matches (the 13th, or a Friday).
    assert.equal(next('0 0 13 * fri', '2026-12-05T00:00:00Z'), '2026-12-11T00:00:00.000Z');
  });

  test('bad schedules say what is wrong', () => {
    assert.throws(() => parseSchedule('61 * * * *'), /minute "61" is not in 0-59/);
    assert.throws(() => parseSchedule('* * * * * *'), /needs five fields/);
    assert.throws(() => parseSchedule('5-1 * * * *'), /runs backwards/);
    assert.throws(() => parseSchedule('*/0 * * * *'), /step "0" must be at least 1/);
  });
});
