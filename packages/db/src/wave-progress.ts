import type { InstanceState } from '@fleet/rollout-domain';
import { INSTANCE_STATES } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import type { InstanceCounts } from './rollouts.ts';

export type WaveProgress = { wave: number; counts: InstanceCounts };

/**
 * Counts per instance state of every wave of a rollout, in wave order (waves not started yet included: their
 * instances exist from the start, pending). One index-only pass over the (rollout_id, wave_no, state) index: about
 * the rollout's size in index entries, so a page polls it every few seconds, not every second.
 */
export async function countInstancesPerWave(db: Database, rolloutId: string): Promise<WaveProgress[]> {
  const { rows } = await db.pool.query<{ wave_no: number; state: InstanceState; n: string }>({
    name: 'fleet_count_instances_per_wave',
    text: `SELECT wave_no, state::text AS state, count(*) AS n FROM rollout_instance
           WHERE rollout_id = $1::uuid GROUP BY wave_no, state ORDER BY wave_no`,
    values: [rolloutId],
  });
  const waves = new Map<number, InstanceCounts>();
  for (const row of rows) {
    let counts = waves.get(row.wave_no);
    if (!counts) {
      counts = Object.fromEntries(INSTANCE_STATES.map((s) => [s, 0])) as InstanceCounts;
      counts.total = 0;
      waves.set(row.wave_no, counts);
    }
    counts[row.state] = Number(row.n);
    counts.total += Number(row.n);
  }
  return [...waves].map(([wave, counts]) => ({ wave, counts }));
}
