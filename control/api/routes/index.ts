/** Every Platform API route, one file per resource. */
import type { ControlContext } from '../../context.ts';
import { ApiRouter } from '../router.ts';
import { appRoutes } from './apps.ts';
import { collaboratorRoutes } from './collaborators.ts';
import { userRoutes } from './users.ts';
import { configVarRoutes } from './config-vars.ts';
import { domainRoutes } from './domains.ts';
import { certRoutes } from './certs.ts';
import { dynoRoutes } from './dynos.ts';
import { formationRoutes } from './formation.ts';
import { nodeRoutes } from './nodes.ts';
import { releaseRoutes } from './releases.ts';
import { cronRoutes } from './cron.ts';
import { dashboardRoutes } from './dashboard.ts';
import { slugRoutes } from './slugs.ts';
import { tokenRoutes } from './tokens.ts';

export function platformRoutes(
  ctx: ControlContext,
  opts: { peerToken: string; selfId: string; isLeader: () => boolean; isReady: () => boolean },
): ApiRouter {
  const r = new ApiRouter();
  // For load balancers and `dynomesh up`: 503 until this instance is registered as a member.
  r.get('/health', async () => {
    const ready = opts.isReady();
    return { status: ready ? 200 : 503, body: { status: ready ? 'ok' : 'starting', id: opts.selfId, leader: opts.isLeader() } };
  });
  appRoutes(r, ctx);
  configVarRoutes(r, ctx);
  releaseRoutes(r, ctx);
  cronRoutes(r, ctx);
  formationRoutes(r, ctx);
  dynoRoutes(r, ctx);
  domainRoutes(r, ctx);
  certRoutes(r, ctx);
  tokenRoutes(r, ctx);
  userRoutes(r, ctx);
  collaboratorRoutes(r, ctx);
  nodeRoutes(r, ctx);
  slugRoutes(r, ctx, opts.peerToken, opts.selfId);
  dashboardRoutes(r);
  return r;
}
