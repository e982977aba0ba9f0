/**
 * Every rollout the key may see, in one table: filters, sort and search live in the URL (a view can be shared), and
 * the table refreshes every few seconds. The listing answers counts per state; rate and ETA come from each open
 * rollout's own GET (only the running and paused rows of what is loaded).
 */
import { useMemo } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useInfiniteQuery, useQuery } from '@tanstack/react-query';
import { ROLLOUT_STATUSES } from '@fleet/api-client';
import type { RolloutStatus, RolloutSummary } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { ProgressBar } from '../components/progress-bar.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { TableRegion } from '../components/table-region.tsx';
import { AccountField } from '../components/account-field.tsx';
import { formatCount, formatRate, formatSeconds, formatTime, shortId } from '../format.ts';
import { SORT_KEYS, compareRollouts, doneOf, isFinished } from '../rollout-sort.ts';
import type { SortKey } from '../rollout-sort.ts';

const REFRESH_MS = 5000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const INSTANCE_ID = /^i-[a-z0-9]{1,62}$/;

export function RolloutsPage() {
  const { client } = useSession();
  const [params, setParams] = useSearchParams();
  const status = ROLLOUT_STATUSES.find((s) => s === params.get('status'));
  const userId = params.get('userId') ?? '';
  const search = (params.get('q') ?? '').trim();
  const sort: SortKey = SORT_KEYS.find((k) => k === params.get('sort')) ?? 'created';
  const dir = params.get('dir') === 'asc' ? 'asc' : 'desc';
  const instanceId = INSTANCE_ID.test(search) ? search : undefined;
  const rolloutId = UUID.test(search) ? search.toLowerCase() : undefined;

  const setParamsTo = (changes: Record<string, string | undefined>) =>
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        for (const [name, value] of Object.entries(changes)) {
          if (value) next.set(name, value);
          else next.delete(name);
        }
        return next;
      },
      { replace: true },
    );
  const setParam = (name: string, value: string | undefined) => setParamsTo({ [name]: value });

  const list = useInfiniteQuery({
    queryKey: ['rollouts', status, userId, instanceId],
    queryFn: ({ pageParam, signal }) =>
      client.listRollouts(
        {
          limit: 50,
          ...(status ? { status } : {}),
          ...(/^\d{16}$/.test(userId) ? { userId } : {}),
          ...(instanceId ? { instanceId } : {}),
          ...(pageParam ? { cursor: pageParam } : {}),
        },
        { signal },
      ),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (page) => page.nextCursor ?? undefined,
    refetchInterval: REFRESH_MS,
    placeholderData: keepPreviousData,
    enabled: rolloutId === undefined,
  });
  // A whole rollout id: that rollout alone (it may be older than the pages loaded).
  const one = useQuery({
    queryKey: ['rollout', rolloutId],
    queryFn: () => client.getRollout(rolloutId!),
    enabled: rolloutId !== undefined,
    refetchInterval: REFRESH_MS,
  });

  const rows = useMemo(() => {
    let items: RolloutSummary[] =
      rolloutId !== undefined
        ? one.data
          ? [{ ...one.data, totalInstances: one.data.counts.total, createdBy: null }]
          : []
        : (list.data?.pages.flatMap((page) => page.items) ?? []);
    // Part of an id: the loaded rows whose id starts with it.
    if (search && !instanceId && !rolloutId) items = items.filter((r) => r.id.startsWith(search.toLowerCase()));
    return [...items].sort((a, b) => compareRollouts(a, b, sort) * (dir === 'asc' ? 1 : -1));
  }, [list.data, one.data, rolloutId, instanceId, search, sort, dir]);

  const sortButton = (key: SortKey, label: string) => (
    <button
      type="button"
      className="sort"
      onClick={() =>
        setParamsTo({
          sort: key === 'created' ? undefined : key,
          dir: sort === key && dir === 'desc' ? 'asc' : undefined,
        })
      }
    >
      {label}
      <span aria-hidden="true">{sort === key ? (dir === 'asc' ? ' ▲' : ' ▼') : ''}</span>
    </button>
  );
  const ariaSort = (key: SortKey) => (sort === key ? (dir === 'asc' ? 'ascending' : 'descending') : undefined);

  return (
    <>
      <h1>Rollouts</h1>
      <form className="filters" role="search" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label htmlFor="filter-status">Status</label>
          <select
            id="filter-status"
            value={status ?? ''}
            onChange={(event) => setParam('status', event.target.value || undefined)}
          >
            <option value="">any</option>
            {ROLLOUT_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </div>
        <AccountField
          id="filter-account"
          value={userId}
          onChange={(v) => setParam('userId', v || undefined)}
          optional
        />
        <div>
          <label htmlFor="filter-search">Search by rollout id or instance id</label>
          <input
            id="filter-search"
            type="search"
            defaultValue={search}
            placeholder="8f3a2b1c… or i-bp1…"
            onChange={(event) => setParam('q', event.target.value.trim() || undefined)}
          />
        </div>
      </form>
      <ProblemNote error={list.error ?? one.error} what="Loading rollouts failed" />
      <TableRegion label="Rollouts">
        <table className="rollouts">
          <caption>
            {formatCount(rows.length)} rollout{rows.length === 1 ? '' : 's'}
            {list.hasNextPage ? ' loaded; older ones below' : ''} · refreshed every {REFRESH_MS / 1000} s
          </caption>
          <thead>
            <tr>
              <th scope="col">Rollout</th>
              <th scope="col" aria-sort={ariaSort('status')}>
                {sortButton('status', 'Status')}
              </th>
              <th scope="col" aria-sort={ariaSort('account')}>
                {sortButton('account', 'Account')}
              </th>
              <th scope="col" aria-sort={ariaSort('progress')}>
                {sortButton('progress', 'Progress')}
              </th>
              <th scope="col" className="wrap">
                Succeeded / failed / in progress / pending / cancelled
              </th>
              <th scope="col">Rate</th>
              <th scope="col">ETA</th>
              <th scope="col" aria-sort={ariaSort('created')}>
                {sortButton('created', 'Created')}
              </th>
              <th scope="col">Created by</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((rollout) => (
              <RolloutRow key={rollout.id} rollout={rollout} />
            ))}
            {rows.length === 0 && !list.isLoading && (
              <tr>
                <td colSpan={9}>No rollout matches.</td>
              </tr>
            )}
          </tbody>
        </table>
      </TableRegion>
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          Load older rollouts
        </button>
      )}
    </>
  );
}

function RolloutRow(props: { rollout: RolloutSummary }) {
  const { client } = useSession();
  const { rollout } = props;
  const open = !isFinished(rollout.status);
  // Rate and ETA of an open rollout (a listing has no progress); a finished one has neither.
  const detail = useQuery({
    queryKey: ['rollout', rollout.id],
    queryFn: ({ signal }) => client.getRollout(rollout.id, { signal }),
    enabled: open,
    refetchInterval: REFRESH_MS,
  });
  const counts = rollout.counts;
  return (
    <tr>
      <th scope="row">
        <Link to={`/rollouts/${rollout.id}`} title={rollout.id} className="mono">
          {shortId(rollout.id)}
        </Link>
      </th>
      <td>
        <StatusBadge status={rollout.status satisfies RolloutStatus} />
      </td>
      <td className="mono">{rollout.userId}</td>
      <td>
        <ProgressBar done={doneOf(counts)} total={counts.total} label={`Progress of rollout ${shortId(rollout.id)}`} />
      </td>
      <td className="counts">
        <span className="ok">{formatCount(counts.succeeded)}</span> /{' '}
        <span className="bad">{formatCount(counts.failed)}</span> / {formatCount(counts.in_progress)} /{' '}
        {formatCount(counts.pending)} / {formatCount(counts.cancelled)}
      </td>
      <td>{open ? formatRate(detail.data?.progress?.ratePerSecond) : '—'}</td>
      <td>{open ? formatSeconds(detail.data?.progress?.etaSeconds) : '—'}</td>
      <td>{formatTime(rollout.createdAt)}</td>
      <td>{rollout.createdBy?.name ?? '—'}</td>
    </tr>
  );
}
