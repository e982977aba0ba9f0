import { formatCount, formatSeconds } from '../format.ts';
import { DataTable } from './data-table.tsx';

/** What the console shows of a dry run's answer (POST /v1/rollouts with `dryRun: true`; docs/api.md has it all). */
export type RolloutPlanView = {
  valid: boolean;
  instances: { requested: number; accepted: number; duplicatesRemoved: number; refused: number };
  refused: { index: number; value: string | null; reason: string }[];
  waves: { wave: number; size: number }[];
  limits?: { concurrency: number; globalConcurrency: number | null; accountRateNowRps: number | null };
  estimate?: { seconds: number; formula: string };
};

export function PlanView(props: { plan: RolloutPlanView }) {
  const { plan } = props;
  return (
    <section className="plan">
      <h2 id="plan-heading">Dry-run plan (nothing was recorded)</h2>
      <p>
        {plan.valid ? 'The API would accept this rollout.' : 'The API would refuse this rollout.'}{' '}
        {formatCount(plan.instances.accepted)} instances of {formatCount(plan.instances.requested)} sent,{' '}
        {formatCount(plan.instances.duplicatesRemoved)} duplicates removed, {formatCount(plan.instances.refused)}{' '}
        refused.
      </p>
      {plan.estimate && (
        <p>
          Estimated duration: {formatSeconds(plan.estimate.seconds)}{' '}
          <span className="muted">({plan.estimate.formula})</span>
        </p>
      )}
      {plan.limits && (
        <p>
          Concurrency {formatCount(plan.limits.concurrency)}, global cap {plan.limits.globalConcurrency ?? 'none'},
          account rate now {plan.limits.accountRateNowRps === null ? 'none' : `${plan.limits.accountRateNowRps}/s`}.
        </p>
      )}
      <DataTable label="Planned waves" columns={['Wave', 'Instances']}>
        {plan.waves.map((wave) => (
          <tr key={wave.wave}>
            <th scope="row">{wave.wave}</th>
            <td>{formatCount(wave.size)}</td>
          </tr>
        ))}
      </DataTable>
      {plan.refused.length > 0 && (
        <ul>
          {plan.refused.slice(0, 20).map((refused) => (
            <li key={refused.index}>
              entry {refused.index + 1}: <code>{refused.value ?? 'null'}</code> {refused.reason}
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
