/** The backend with nothing in front: the physical limit every proxy is compared with. */
import type { Target } from './target.ts';

export const direct: Target = {
  name: 'direct',
  async start(ctx) {
    return { name: 'direct', port: ctx.backend.port, pids: {}, stop: async () => {} };
  },
};
