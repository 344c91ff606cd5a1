/**
 * The web dashboard's files (dashboard/): `GET /dashboard/` is its page, `GET /` redirects there.
 * Only static files, no data: the page calls the Platform API with the user's token like any
 * client, so it sees what the token sees. Its CSP allows scripts, styles and requests from this
 * origin only, and nothing inline.
 */
import { dashboardAssets } from '../../../dashboard/assets.ts';
import { ControlError, notFound } from '../../errors.ts';
import type { ApiRouter } from '../router.ts';

export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export function dashboardRoutes(r: ApiRouter): void {
  r.get('/', async (c) => {
    c.res.writeHead(302, { location: '/dashboard/', 'content-length': '0' });
    c.res.end();
    return undefined;
  });

  r.get('/dashboard/*file', async (c) => {
    const assets = await dashboardAssets().catch((err: Error) => {
      c.log.error({ err: err.message }, 'dashboard-unavailable');
      throw new ControlError(503, 'unavailable', `the dashboard is not available: ${err.message}`);
    });
    const name = c.params.file || 'index.html';
    const asset = assets.get(name);
    if (!asset) throw notFound(`no such dashboard file: ${name}; open /dashboard/`);
    c.res.writeHead(200, {
      'content-type': asset.type,
      'content-length': String(asset.body.length),
      'cache-control': 'no-cache',
      'content-security-policy': DASHBOARD_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'x-frame-options': 'DENY',
    });
    c.res.end(c.req.method === 'HEAD' ? undefined : asset.body);
    return undefined;
  });
}
