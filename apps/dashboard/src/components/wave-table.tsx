import { useQuery } from '@tanstack/react-query';
import type { Rollout } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { formatCount } from '../format.ts';
import { doneOf, isFinished } from '../rollout-sort.ts';
import { ProgressBar } from './progress-bar.tsx';
import { ProblemNote } from './problem-note.tsx';
import { DataTable } from './data-table.tsx';

/** Each wave's progress (GET /v1/rollouts/:id/waves, every 5 s while the rollout is open). */
export function WaveTable(props: { rollout: Rollout }) {
  const { client } = useSession();
  const { rollout } = props;
  const open = !isFinished(rollout.status);
  const waves = useQuery({
    queryKey: ['waves', rollout.id, rollout.wave.current, rollout.status],
    queryFn: ({ signal }) => client.getWaves(rollout.id, { signal }),
    refetchInterval: open ? 5000 : false,
  });
  if (waves.error) return <ProblemNote error={waves.error} what="Loading the waves failed" />;
  return (
    <>
      <p>
        Wave {rollout.wave.current} of {rollout.wave.count} allowed to run.
      </p>
      <DataTable label="Waves" columns={['Wave', 'Progress', 'Succeeded', 'Failed', 'Open']}>
        {(waves.data?.items ?? []).map(({ wave, counts }) => {
          const done = doneOf(counts);
          return (
            <tr key={wave} aria-current={wave === rollout.wave.current ? 'step' : undefined}>
              <th scope="row">{wave}</th>
              <td>
                <ProgressBar done={done} total={counts.total} label={`Progress of wave ${wave}`} />
              </td>
              <td>{formatCount(counts.succeeded)}</td>
              <td>{formatCount(counts.failed)}</td>
              <td>{formatCount(counts.pending + counts.in_progress)}</td>
            </tr>
          );
        })}
      </DataTable>
    </>
  );
}
