/**
 * What the control serves as the dashboard, without a browser: the bundle has the page, its
 * script and its styles; the page loads only files of its own origin and nothing inline (the CSP
 * would refuse it); the route answers them with the CSP, and a name outside the bundle is 404.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dashboardAssets } from '../../dashboard/assets.ts';
import { ApiRouter } from '../../control/api/router.ts';
import { DASHBOARD_CSP, dashboardRoutes } from '../../control/api/routes/dashboard.ts';

test('the bundle: index.html, app.js and app.css, nothing inline, nothing from elsewhere', { timeout: 60_000 }, async () => {
  const assets = await dashboardAssets();
  assert.deepEqual([...assets.keys()].sort(), ['app.css', 'app.js', 'index.html']);
  const html = assets.get('index.html')!.body.toString();
  assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, 'no inline script');
  assert.doesNotMatch(html, /<style|\sstyle=|\son[a-z]+=/i, 'no inline style or handler');
  for (const m of html.matchAll(/(?:src|href)="([^"]+)"/g)) assert.match(m[1]!, /^\/dashboard\//, `${m[1]} is served by the control`);
  const js = assets.get('app.js')!.body.toString();
  assert.doesNotMatch(js, /https?:\/\/(?!www\.w3\.org)[a-z0-9.-]+\.[a-z]{2,}\//i, 'the script loads nothing from another site');
  assert.match(assets.get('app.css')!.body.toString(), /\.uplot/, "uPlot's styles are bundled");
  assert.equal(await dashboardAssets(), assets, 'bundled once, then kept');
});

test('the CSP allows this origin only and nothing inline', () => {
  const rules = Object.fromEntries(DASHBOARD_CSP.split('; ').map((r) => [r.split(' ')[0], r.split(' ').slice(1)]));
  assert.deepEqual(rules['default-src'], ["'none'"]);
  for (const d of ['script-src', 'style-src', 'connect-src']) assert.deepEqual(rules[d], ["'self'"], d);
  assert.doesNotMatch(DASHBOARD_CSP, /unsafe|\*/);
});

test('the routes: / redirects, files come with their type and the CSP, other names are 404', async () => {
  const r = new ApiRouter();
  dashboardRoutes(r);
  const call = async (path: string, method = 'GET') => {
    const m = r.match(method, path);
    assert.ok(m && 'route' in m, `${method} ${path} is routed`);
    const sent: { status?: number; headers?: Record<string, string>; body?: Buffer } = {};
    const res = {
      writeHead: (status: number, headers: Record<string, string>) => Object.assign(sent, { status, headers }),
      end: (body?: Buffer) => Object.assign(sent, { body }),
    };
    const ctx = { params: m.params, req: { method }, res, log: { error: () => undefined } } as never;
    try {
      await m.route.handler(ctx);
    } catch (err) {
      return { status: (err as { status: number }).status, headers: {}, body: undefined };
    }
    return sent;
  };
  const root = await call('/');
  assert.equal(root.status, 302);
  assert.equal(root.headers!.location, '/dashboard/');
  for (const [path, type] of [['/dashboard/', 'text/html'], ['/dashboard', 'text/html'], ['/dashboard/app.js', 'text/javascript'], ['/dashboard/app.css', 'text/css']] as const) {
    const got = await call(path);
    assert.equal(got.status, 200, path);
    assert.ok(got.headers!['content-type']!.startsWith(type), `${path}: ${got.headers!['content-type']}`);
    assert.equal(got.headers!['content-security-policy'], DASHBOARD_CSP);
    assert.equal(got.headers!['x-content-type-options'], 'nosniff');
    assert.ok(got.body!.length > 0);
  }
  const head = await call('/dashboard/app.js', 'HEAD');
  assert.equal(head.status, 200);
  assert.equal(head.body, undefined, 'HEAD has no body');
  for (const path of ['/dashboard/nope.js', '/dashboard/../package.json', '/dashboard/%2e%2e/package.json']) assert.equal((await call(path)).status, 404, path);
});
