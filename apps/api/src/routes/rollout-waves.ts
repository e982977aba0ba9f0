import { Router } from 'express';
import { z } from 'zod';
import type { Database } from '@fleet/db';
import { countInstancesPerWave } from '@fleet/db';
import { loadVisibleRollout } from '../http/auth.ts';
import type { ApiOperation } from '../openapi.ts';
import { countsSchema } from '../response-schemas.ts';
import { rolloutIdSchema } from '../rollout-schemas.ts';

const WAVES_PATH = '/v1/rollouts/:id/waves';

const wavesSchema = z.object({
  current: z.number().int().describe('the wave now allowed to run (1-based)'),
  count: z.number().int().describe('waves in the plan'),
  items: z
    .array(z.object({ wave: z.number().int(), counts: countsSchema }))
    .describe('every wave in order, with its counts per instance state (a wave not started yet: all pending)'),
});

/** GET /v1/rollouts/:id/waves: each wave's progress (the console's waves table). */
export function rolloutWaveRoutes(deps: { db: Database }): Router {
  const router = Router();
  router.get(WAVES_PATH, async (req, res) => {
    const rollout = await loadVisibleRollout(deps, req, req.params.id);
    const items = await countInstancesPerWave(deps.db, rollout.id);
    res.json({ current: rollout.currentWave, count: rollout.waveCount, items } satisfies z.infer<typeof wavesSchema>);
  });
  return router;
}

export const rolloutWaveOperations: ApiOperation[] = [
  {
    method: 'get',
    path: WAVES_PATH,
    operationId: 'getRolloutWaves',
    tag: 'rollouts',
    role: 'viewer',
    summary: "Each wave's counts per instance state, in wave order",
    params: z.strictObject({ id: rolloutIdSchema }),
    responses: { 200: { description: 'The waves', schema: wavesSchema } },
  },
];
