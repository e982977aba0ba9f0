/**
 * A rollout's instances, one page (100) at a time, by state: keyset pages of the API, so a 100,000-instance rollout
 * is as quick to browse as a small one and the page never holds more than one page of rows.
 */
import { useState } from 'react';
import { Link } from 'react-router';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { INSTANCE_STATES } from '@fleet/api-client';
import type { Instance, InstanceState } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { formatTime } from '../format.ts';
import { Pager, useCursorPages } from './pager.tsx';
import { ProblemNote } from './problem-note.tsx';
import { StatusBadge } from './status-badge.tsx';
import { DataTable, ValueOptions } from './data-table.tsx';

const INSTANCE_PAGE_SIZE = 100;

/** An instance's last error, in a cell; none once it succeeded (its last answer was the success). */
function lastErrorOf(instance: Instance): string {
  if (instance.state === 'succeeded' || !instance.lastError) return '—';
  return [instance.lastError.code, instance.lastError.message].filter(Boolean).join(' ') || '—';
}

export function InstanceList(props: { rolloutId: string; live: boolean }) {
  const { client } = useSession();
  const [state, setState] = useState<InstanceState | ''>('');
  const pages = useCursorPages();
  const cursor = pages.cursor;
  const page = useQuery({
    // `live` in the key: the page is read again once the rollout is final, then left alone.
    queryKey: ['instances', props.rolloutId, state, cursor, props.live],
    queryFn: ({ signal }) =>
      client.listInstances(
        props.rolloutId,
        { limit: INSTANCE_PAGE_SIZE, ...(state ? { state } : {}), ...(cursor ? { cursor } : {}) },
        { signal },
      ),
    placeholderData: keepPreviousData,
    refetchInterval: props.live ? 5000 : false,
  });
  const items = page.data?.items ?? [];
  return (
    <>
      <div className="filters">
        <div>
          <label htmlFor="instance-state">State</label>
          <select
            id="instance-state"
            value={state}
            onChange={(event) => {
              setState(event.target.value as InstanceState | '');
              pages.reset();
            }}
          >
            <ValueOptions values={INSTANCE_STATES} any />
          </select>
        </div>
      </div>
      <ProblemNote error={page.error} what="Loading instances failed" />
      <DataTable
        label="Instances"
        columns={['Instance', 'State', 'Attempts', 'Last error', 'Manual install', 'Finished']}
        caption={
          <>
            Page {pages.pageNumber}, {items.length} instances ({INSTANCE_PAGE_SIZE} per page)
          </>
        }
      >
        {items.map((instance) => (
          <tr key={instance.instanceId}>
            <th scope="row">
              <Link className="mono" to={`/rollouts/${props.rolloutId}/instances/${instance.instanceId}`}>
                {instance.instanceId}
              </Link>
            </th>
            <td>
              <StatusBadge status={instance.state} />
            </td>
            <td>{instance.attemptCount}</td>
            <td>{lastErrorOf(instance)}</td>
            <td>{instance.needsManualInstall ? (instance.manualInstallReason ?? 'yes') : '—'}</td>
            <td>{formatTime(instance.finishedAt)}</td>
          </tr>
        ))}
      </DataTable>
      <Pager pages={pages} nextCursor={page.data?.nextCursor} />
    </>
  );
}
