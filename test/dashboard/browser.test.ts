/**
 * The web dashboard in a real headless Chromium against a real `dynomesh up`, as a user drives
 * it: examples/node-hello pushed by real git, then in the browser: log in with an API token (kept
 * out of the URL), see the app, scale web to 2 and see both dynos up, set a config var, roll back,
 * see a live log line of a request the test made, and (where the control serves per-app metrics)
 * see the charts move after traffic. Also: the CSP has no 'unsafe-inline' and the page breaks no
 * CSP rule; over plain HTTP from another host the login asks before sending the token; the app's
 * page fits a phone's width. A screenshot per step goes to a directory the test prints
 * (test/support/browser.ts). Skipped, saying why, where chromium is not installed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, Locator, Page } from 'playwright-core';
import { browserSkipReason, launchChromium, outputDir } from '../support/browser.ts';
import { ROOT, Up } from '../support/up.ts';
import { eventually } from '../support/etcd.ts';

const APP = 'dash-hello';
/** This file's own bridges, so it shares no addresses with other clusters on the host. */
const DYNO_SUBNET = '10.248.0.0/16';
const BUILD_SUBNET = '10.249.0.0/16';
const skip = browserSkipReason();
/** A name Chromium resolves to loopback: the dashboard as if served by another machine. */
const ELSEWHERE = 'control.dashboard.test';

/** Polls `fn` every 250 ms (a page is not worth asking more often) until it returns something truthy. */
const until = <T>(what: string, fn: () => Promise<T>, timeoutMs = 30_000) => eventually(fn, timeoutMs, what, 250);

const textOf = async (l: Locator) => ((await l.count()) ? ((await l.first().textContent()) ?? '') : '');

describe('the web dashboard in a real browser', { skip }, () => {
  let up: Up | undefined;
  let builds = '';
  let browser: Browser | undefined;
  let page: Page;
  let shots = '';
  let step = 0;
  let token = '';
  const cspErrors: string[] = [];
  const u = () => up!;
  const shot = (name: string) => page.screenshot({ path: join(shots, `${String(++step).padStart(2, '0')}-${name}.png`), fullPage: true });
  const base = () => `http://127.0.0.1:${u().apiPort}`;
  const tab = (name: string) => page.getByRole('navigation', { name: 'App sections' }).getByRole('link', { name, exact: true }).click();
  const currentRelease = async () => {
    const list = JSON.parse((await u().ok('releases', '-a', APP, '--json')).stdout) as { version: number; current: boolean }[];
    return list.find((r) => r.current)!.version;
  };

  before(async () => {
    shots = outputDir('dm-dashboard-shots');
    console.log(`# dashboard screenshots: ${shots}`);
    builds = mkdtempSync('/var/tmp/dm-dashboard-');
    chmodSync(builds, 0o711); // build users pass through to their build dir
    up = await Up.start({
      name: 'dm-dashboard',
      args: ['--no-addons'],
      env: { DYNOMESH_BUILD_DIR: builds, DYNOMESH_DYNO_SUBNET: DYNO_SUBNET, DYNOMESH_BUILD_SUBNET: BUILD_SUBNET, DYNOMESH_STOP_TIMEOUT: '5s', DYNOMESH_BUILD_TIMEOUT: '3m' },
    });
    const work = join(u().dir, APP);
    cpSync(join(ROOT, 'examples/node-hello'), work, { recursive: true });
    await u().commitAll(work, 'node-hello');
    const created = await u().cliIn(work, 'apps:create', APP);
    assert.equal(created.code, 0, created.stderr);
    const push = await u().git(work, ['push', 'dynomesh', 'main']);
    assert.equal(push.code, 0, `git push: ${push.stderr}`);
    token = (await u().ok('auth:token')).stdout.trim();
    browser = await launchChromium([ELSEWHERE]);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspErrors.push(m.text());
    });
  }, { timeout: 240_000 });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await up?.stop();
    up?.remove();
    if (builds) rmSync(builds, { recursive: true, force: true });
    console.log(`# dashboard screenshots kept in ${shots}`);
  }, { timeout: 150_000 });

  test('served by the control, in the banner, with a strict CSP', { timeout: 30_000 }, async () => {
    assert.match(u().output, new RegExp(`Dashboard +${base().replace(/[.]/g, '\\.')}/dashboard/`));
    const res = await fetch(`${base()}/`, { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/dashboard/');
    const page0 = await fetch(`${base()}/dashboard/`);
    assert.equal(page0.status, 200);
    const csp = page0.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.match(await page0.text(), /<script type="module" src="\/dashboard\/app\.js">/);
    assert.equal((await fetch(`${base()}/dashboard/app.js`)).headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.equal((await fetch(`${base()}/dashboard/nope.js`)).status, 404);
  });

  test('over plain HTTP from another machine the token is sent only once the user says the network is trusted', { timeout: 60_000 }, async () => {
    const p = await browser!.newPage();
    try {
      await p.goto(`http://${ELSEWHERE}:${u().apiPort}/dashboard/`);
      await p.getByLabel('API token').fill(token);
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.getByRole('alert').filter({ hasText: /Refusing to send your token over plain HTTP/ }).waitFor();
      assert.equal(await p.evaluate(() => sessionStorage.getItem('dynomesh.token')), null);
      await p.getByLabel(/This network is trusted/).check();
      await p.getByRole('button', { name: 'Log in' }).click();
      await p.getByRole('heading', { name: 'Apps' }).waitFor();
    } finally {
      await p.close();
    }
  });

  test('a user logs in, scales, sets a config var, rolls back and tails the log', { timeout: 240_000 }, async () => {
    // Log in: a wrong token is refused with the API's message; the right one is kept in this tab only.
    await page.goto(`${base()}/dashboard/`);
    await page.getByLabel('API token').fill('dm_not-a-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: /invalid or revoked API token/ }).waitFor();
    await page.getByLabel('API token').fill(token);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Apps' }).waitFor();
    assert.ok(!page.url().includes(token), 'no token in the URL');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('dynomesh.token')), token);
    await shot('apps');

    // The app, and its dyno running.
    await page.getByRole('list', { name: 'Apps' }).getByRole('link', { name: new RegExp(APP) }).click();
    await page.getByRole('heading', { name: APP }).waitFor();
    const upRows = (type: string) => page.locator(`tr[data-dyno^="${type}."]`).filter({ has: page.locator('.state-up') });
    await until('web.1 up', async () => (await upRows('web').count()) === 1, 90_000).catch(async (err: Error) => {
      throw new Error(`${err.message}\n${(await u().cli('ps', '-a', APP)).stdout}\n${u().output.slice(-3000)}`);
    });

    // Scale web to 2: both dynos up, and the formation says 2.
    await page.getByLabel('Quantity of web').fill('2');
    await page.getByRole('button', { name: 'Scale web' }).click();
    await until('two web dynos up', async () => (await upRows('web').count()) === 2, 90_000);
    assert.match((await u().ok('ps', '-a', APP)).stdout, /web\.2/);
    await shot('scaled');

    // A config var, set in Settings: a new release carries it.
    const before = await currentRelease();
    await tab('Settings');
    await page.getByRole('button', { name: 'Reveal config vars' }).click();
    await page.getByLabel('New config var name').fill('GREETING');
    await page.getByLabel('Value').fill('Howdy');
    await page.getByRole('button', { name: 'Add config var' }).click();
    await page.getByLabel('GREETING').waitFor();
    assert.equal(await page.getByLabel('GREETING').inputValue(), 'Howdy');
    assert.equal((await u().ok('config:get', 'GREETING', '-a', APP)).stdout.trim(), 'Howdy');
    assert.equal(await currentRelease(), before + 1);
    await shot('config-var');

    // Roll back to the release before it, from Activity: the var is gone again.
    await tab('Activity');
    await page.getByRole('button', { name: `Roll back to v${before}` }).click();
    await until('the rollback release', async () => /Rollback to v\d+/.test(await textOf(page.locator(`li[data-version="${before + 2}"]`))));
    assert.match(await textOf(page.locator(`li[data-version="${before + 2}"]`)), /current/);
    assert.equal((await u().ok('config:get', 'GREETING', '-a', APP)).stdout.trim(), '');
    await shot('rolled-back');

    // The live log: a request made now shows up in the open tail.
    await tab('Logs');
    await page.getByRole('status').filter({ hasText: /^Live/ }).waitFor({ timeout: 30_000 });
    const path = `/from-the-dashboard-test-${Date.now()}`;
    await until('the app to answer', async () => (await u().get(APP, path)).status === 200, 60_000);
    const log = page.getByRole('log', { name: 'Log lines' });
    await until('the request in the live log', async () => (await textOf(log)).includes(`path="${path}"`) || (await textOf(log)).includes(`GET ${path} -> 200`), 30_000);
    await shot('logs');

    // Resources: this month's dyno hours count the web dynos that ran.
    await tab('Resources');
    await page.getByRole('table', { name: /^Dyno usage in \d{4}-\d\d$/ }).getByRole('rowheader', { name: 'web' }).waitFor({ timeout: 30_000 });
    await shot('resources');

    // An admin (as this token is) also sees every app's dyno hours on the apps page.
    await page.getByRole('link', { name: 'Apps', exact: true }).click();
    await page.getByRole('table', { name: /^Dyno hours of every app in \d{4}-\d\d$/ }).getByRole('rowheader', { name: APP }).waitFor({ timeout: 30_000 });
    await shot('account-usage');
    await page.getByRole('list', { name: 'Apps' }).getByRole('link', { name: new RegExp(APP) }).click();

    // At a phone's width the app's page fits without sideways scrolling.
    await tab('Overview');
    await page.setViewportSize({ width: 390, height: 844 });
    await upRows('web').first().waitFor();
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1), 'no horizontal overflow at 390 px');
    await shot('phone');
    await page.setViewportSize({ width: 1280, height: 900 });
    assert.deepEqual(cspErrors, [], 'no CSP violations');
  });

  test('metrics: the charts move after traffic (or the page says there are none)', { timeout: 180_000 }, async () => {
    const probe = await fetch(`${base()}/apps/${APP}/metrics?since=-3600&step=60`, { headers: { authorization: `Bearer ${token}` } });
    // Logged in as the first test left it, or now (a tab's sessionStorage, as the login form keeps it).
    await page.goto(`${base()}/dashboard/#/apps/${APP}/metrics`);
    await page.evaluate((t) => sessionStorage.setItem('dynomesh.token', t), token);
    await page.reload();
    if (probe.status === 404) {
      // No metrics service on this control yet: the tab says so and nothing else breaks.
      await page.getByRole('status').filter({ hasText: /Metrics are not available/ }).waitFor();
      await shot('metrics-unavailable');
      console.log('# metrics: the control serves no /apps/:app/metrics yet; checked the page says so');
      return;
    }
    assert.equal(probe.status, 200, `GET /apps/${APP}/metrics: ${probe.status} ${await probe.text()}`);
    const summary = page.locator('#chart-throughput [data-summary]');
    await summary.waitFor();
    const total = async () => Number(/^([\d,]+) requests/.exec(await textOf(summary))?.[1]?.replace(/,/g, '') ?? NaN);
    const before = await total();
    const pixels = () => page.locator('#chart-throughput canvas').first().evaluate((c) => (c as HTMLCanvasElement).toDataURL());
    const drawn = await pixels();
    for (let i = 0; i < 40; i++) assert.equal((await u().get(APP, `/metrics-probe-${i}`)).status, 200);
    await until('the throughput chart to count the traffic', async () => (await total()) >= before + 40, 150_000);
    assert.notEqual(await pixels(), drawn, 'the chart was redrawn with the new data');
    await shot('metrics');
  });
});
