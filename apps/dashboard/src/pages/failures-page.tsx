/**
 * A rollout's failure report: failures grouped by cause with counts, the recommended action and the first
 * instances of each; retry everything or one cause (operators, once the rollout is finished); the CSV of every
 * failure.
 */
import { useState } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useSession } from '../session.tsx';
import { ConfirmButton } from '../components/confirm-button.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { TableRegion } from '../components/table-region.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { saveText } from '../download.ts';
import { formatCount, shortId } from '../format.ts';
import { isFinished } from '../rollout-sort.ts';

export function FailuresPage() {
  const { id = '' } = useParams();
  const { client, canOperate } = useSession();
  const navigate = useNavigate();
  const rollout = useQuery({ queryKey: ['rollout', id], queryFn: ({ signal }) => client.getRollout(id, { signal }) });
  const open = rollout.data !== undefined && !isFinished(rollout.data.status);
  const report = useQuery({
    queryKey: ['report', id],
    queryFn: () => client.getReport(id, { instancesPerGroup: 20 }),
    refetchInterval: open ? 5000 : false,
  });
  const [downloadError, setDownloadError] = useState<unknown>(null);
  const [downloading, setDownloading] = useState(false);
  const finished = rollout.data !== undefined && !open;
  const retry = (cause?: string) => async () => {
    const created = await client.retryRollout(id, cause === undefined ? {} : { cause });
    navigate(`/rollouts/${created.id}`);
  };
  const failures = report.data?.failures;
  return (
    <>
      <h1>
        Failures of rollout{' '}
        <Link to={`/rollouts/${id}`} className="mono">
          {shortId(id)}
        </Link>{' '}
        {rollout.data && <StatusBadge status={rollout.data.status} />}
      </h1>
      <ProblemNote error={report.error ?? rollout.error} what="Loading the report failed" />
      {failures && (
        <p>
          {formatCount(failures.total)} failed instance{failures.total === 1 ? '' : 's'} in{' '}
          {formatCount(failures.causes)} cause{failures.causes === 1 ? '' : 's'}, of{' '}
          {formatCount(report.data!.counts.total)}.
        </p>
      )}
      <div className="actions" role="group" aria-label="Actions">
        <button
          type="button"
          disabled={downloading}
          onClick={async () => {
            setDownloading(true);
            setDownloadError(null);
            try {
              saveText(`rollout-${id}-failures.csv`, await client.getReportCsv(id), 'text/csv');
            } catch (error) {
              setDownloadError(error);
            } finally {
              setDownloading(false);
            }
          }}
        >
          Download CSV
        </button>
        {canOperate && finished && (failures?.total ?? 0) > 0 && (
          <ConfirmButton
            label="Retry failures"
            question={`A new rollout of every failed instance (${formatCount(failures!.total)}), leaving out those whose flag was resolved or closed.`}
            onConfirm={retry()}
          />
        )}
      </div>
      <ProblemNote error={downloadError} what="The CSV could not be downloaded" />
      {canOperate && open && <p className="muted">Failures can be retried once the rollout is finished.</p>}
      {failures && failures.groups.length > 0 && (
        <TableRegion label="Failures by cause">
          <table>
            <thead>
              <tr>
                <th scope="col">Cause</th>
                <th scope="col">Instances</th>
                <th scope="col">Recommended action</th>
                <th scope="col">First instances</th>
                {canOperate && finished && <th scope="col">Retry</th>}
              </tr>
            </thead>
            <tbody>
              {failures.groups.map((group) => (
                <tr key={group.cause}>
                  <th scope="row">
                    <code>{group.errorCode}</code> {group.normalisedMessage}
                    {Object.keys(group.manualInstallReasons).length > 0 && (
                      <div className="muted">
                        manual install:{' '}
                        {Object.entries(group.manualInstallReasons)
                          .map(([reason, n]) => `${reason} (${n})`)
                          .join(', ')}
                      </div>
                    )}
                  </th>
                  <td>{formatCount(group.count)}</td>
                  <td>{group.recommendedAction}</td>
                  <td>
                    <ul className="plain">
                      {group.instances.map((instance) => (
                        <li key={instance.instanceId}>
                          <Link className="mono" to={`/rollouts/${id}/instances/${instance.instanceId}`}>
                            {instance.instanceId}
                          </Link>
                        </li>
                      ))}
                    </ul>
                    {group.instancesTruncated && <span className="muted">and more (in the CSV)</span>}
                  </td>
                  {canOperate && finished && (
                    <td>
                      <ConfirmButton
                        label="Retry failures of this cause"
                        ariaLabel={`Retry failures of cause ${group.cause}`}
                        question={`A new rollout of the ${formatCount(group.count)} instances that failed with: ${group.cause}`}
                        onConfirm={retry(group.cause)}
                      />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </TableRegion>
      )}
      {failures && failures.groups.length === 0 && <p>No failure.</p>}
    </>
  );
}
