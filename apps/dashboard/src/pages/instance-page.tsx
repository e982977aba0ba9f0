/** One instance of a rollout: its state, verification, flag and every NodeInstall attempt with its RequestId. */
import { Link, useParams } from 'react-router';
import { useQuery } from '@tanstack/react-query';
import { useSession } from '../session.tsx';
import { CopyButton } from '../components/copy-button.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { TableRegion } from '../components/table-region.tsx';
import { formatDurationMs, formatTime, shortId } from '../format.ts';

export function InstancePage() {
  const { id = '', instanceId = '' } = useParams();
  const { client } = useSession();
  const instance = useQuery({
    queryKey: ['instance', id, instanceId],
    queryFn: () => client.getInstance(id, instanceId),
    refetchInterval: (query) =>
      query.state.data && ['pending', 'in_progress'].includes(query.state.data.state) ? 5000 : false,
  });
  const data = instance.data;
  return (
    <>
      <h1>
        Instance <span className="mono">{instanceId}</span> {data && <StatusBadge status={data.state} />}
      </h1>
      <p>
        In rollout{' '}
        <Link className="mono" to={`/rollouts/${id}`}>
          {shortId(id)}
        </Link>
      </p>
      <ProblemNote error={instance.error} what="Loading the instance failed" />
      {data && (
        <>
          <dl className="facts">
            <div>
              <dt>State</dt>
              <dd>{data.state}</dd>
            </div>
            <div>
              <dt>Verification</dt>
              <dd>
                {data.verification ?? '—'}
                {data.agentStatus ? ` (agent ${data.agentStatus})` : ''}
              </dd>
            </div>
            <div>
              <dt>Manual install</dt>
              <dd>
                {data.needsManualInstall ? (
                  <>
                    {data.manualInstallReason ?? 'needed'} · <Link to={`/flags?rolloutId=${id}&status=`}>its flag</Link>
                  </>
                ) : (
                  'not needed'
                )}
              </dd>
            </div>
            <div>
              <dt>Attempts</dt>
              <dd>{data.attemptCount}</dd>
            </div>
            <div>
              <dt>Next attempt</dt>
              <dd>{formatTime(data.nextAttemptAt)}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{formatTime(data.finishedAt)}</dd>
            </div>
          </dl>
          <h2>Attempts</h2>
          <TableRegion label="Attempts">
            <table>
              <thead>
                <tr>
                  <th scope="col">#</th>
                  <th scope="col">Started</th>
                  <th scope="col">Duration</th>
                  <th scope="col">HTTP status</th>
                  <th scope="col">Error code</th>
                  <th scope="col">Message</th>
                  <th scope="col">RequestId</th>
                </tr>
              </thead>
              <tbody>
                {data.attempts.map((attempt) => (
                  <tr key={attempt.attemptNo}>
                    <th scope="row">{attempt.attemptNo}</th>
                    <td>{formatTime(attempt.startedAt)}</td>
                    <td>{formatDurationMs(attempt.durationMs)}</td>
                    <td>{attempt.httpStatus ?? '—'}</td>
                    <td>{attempt.errorCode ?? (attempt.success ? 'ok' : '—')}</td>
                    <td>{attempt.errorMessage ?? attempt.outcomeKind ?? '—'}</td>
                    <td>
                      {attempt.requestId ? (
                        <>
                          <code>{attempt.requestId}</code>{' '}
                          <CopyButton text={attempt.requestId} label={`Copy RequestId ${attempt.requestId}`} />
                        </>
                      ) : (
                        '—'
                      )}
                    </td>
                  </tr>
                ))}
                {data.attempts.length === 0 && (
                  <tr>
                    <td colSpan={7}>No attempt yet.</td>
                  </tr>
                )}
              </tbody>
            </table>
          </TableRegion>
        </>
      )}
    </>
  );
}
