/**
 * The manual-install flag queue across rollouts: filters in the URL, a page of flags at a time, and (operators)
 * bulk moves: acknowledge, resolve with a note, close. Each selected flag is moved by its own request; the ones the
 * state machine refuses are listed with the API's reason, the others are moved.
 */
import { useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { keepPreviousData, useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiProblemError, FLAG_STATUSES } from '@fleet/api-client';
import type { FlagAction, ManualInstallFlag } from '@fleet/api-client';
import { useSession } from '../session.tsx';
import { AccountField } from '../components/account-field.tsx';
import { Pager, useCursorPages } from '../components/pager.tsx';
import { ProblemNote } from '../components/problem-note.tsx';
import { StatusBadge } from '../components/status-badge.tsx';
import { DataTable, ValueOptions } from '../components/data-table.tsx';
import { shortId } from '../format.ts';

const PAGE_SIZE = 100;
const ACTION_WORDS: Record<FlagAction, string> = { acknowledge: 'acknowledged', resolve: 'resolved', close: 'closed' };

type BulkResult = { action: FlagAction; moved: number; refused: { flag: ManualInstallFlag; reason: string }[] };

export function FlagsPage() {
  const { client, canOperate } = useSession();
  const queryClient = useQueryClient();
  const [params, setParams] = useSearchParams();
  // Open flags unless the URL says otherwise (`status=` empty: every status).
  const status = params.has('status') ? FLAG_STATUSES.find((s) => s === params.get('status')) : 'open';
  const userId = params.get('userId') ?? '';
  const rolloutId = params.get('rolloutId') ?? '';
  const pages = useCursorPages();
  const cursor = pages.cursor;
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [note, setNote] = useState('');
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<BulkResult | null>(null);

  const setParam = (name: string, value: string) => {
    setParams(
      (current) => {
        const next = new URLSearchParams(current);
        if (value === '' && name !== 'status') next.delete(name);
        else next.set(name, value);
        return next;
      },
      { replace: true },
    );
    pages.reset();
    setSelected(new Set());
  };

  const flags = useQuery({
    queryKey: ['flags', status, userId, rolloutId, cursor],
    queryFn: () =>
      client.listFlags({
        limit: PAGE_SIZE,
        ...(status ? { status } : {}),
        ...(/^\d{16}$/.test(userId) ? { userId } : {}),
        ...(/^[0-9a-f-]{36}$/i.test(rolloutId) ? { rolloutId } : {}),
        ...(cursor ? { cursor } : {}),
      }),
    placeholderData: keepPreviousData,
    refetchInterval: 10_000,
  });
  const items = flags.data?.items ?? [];
  const allSelected = items.length > 0 && items.every((f) => selected.has(f.id));

  const runBulk = async (action: FlagAction) => {
    setBusy(true);
    setResult(null);
    const chosen = items.filter((f) => selected.has(f.id));
    const outcome: BulkResult = { action, moved: 0, refused: [] };
    for (const flag of chosen) {
      try {
        await client.moveFlag(flag.id, action, note.trim() === '' ? undefined : note.trim());
        outcome.moved += 1;
      } catch (error) {
        outcome.refused.push({ flag, reason: error instanceof ApiProblemError ? error.detail : String(error) });
      }
    }
    setResult(outcome);
    setSelected(new Set());
    setBusy(false);
    await queryClient.invalidateQueries({ queryKey: ['flags'] });
  };

  return (
    <>
      <h1>Manual install</h1>
      <p>Hosts that need a person: the agent could not be installed by the API, or did not come up.</p>
      <form className="filters" onSubmit={(event) => event.preventDefault()}>
        <div>
          <label htmlFor="flag-status">Status</label>
          <select id="flag-status" value={status ?? ''} onChange={(event) => setParam('status', event.target.value)}>
            <ValueOptions values={FLAG_STATUSES} any />
          </select>
        </div>
        <AccountField id="flag-account" value={userId} onChange={(v) => setParam('userId', v)} optional />
        <div>
          <label htmlFor="flag-rollout">Rollout id</label>
          <input
            id="flag-rollout"
            defaultValue={rolloutId}
            placeholder="any"
            onChange={(event) => setParam('rolloutId', event.target.value.trim())}
          />
        </div>
      </form>
      <ProblemNote error={flags.error} what="Loading flags failed" />
      {canOperate && (
        <fieldset className="bulk" disabled={busy}>
          <legend>With the {selected.size} selected</legend>
          <label htmlFor="flag-note">Note</label>
          <textarea
            id="flag-note"
            rows={2}
            maxLength={2000}
            value={note}
            onChange={(event) => setNote(event.target.value)}
            placeholder="Required to resolve: what was done on the hosts"
          />
          <div className="actions">
            <button type="button" disabled={selected.size === 0} onClick={() => void runBulk('acknowledge')}>
              Acknowledge
            </button>
            <button
              type="button"
              className="primary"
              disabled={selected.size === 0 || note.trim() === ''}
              onClick={() => void runBulk('resolve')}
            >
              Resolve
            </button>
            <button type="button" disabled={selected.size === 0} onClick={() => void runBulk('close')}>
              Close
            </button>
          </div>
        </fieldset>
      )}
      {result && (
        <div role="status" className="result">
          <p>
            {result.moved} flag{result.moved === 1 ? '' : 's'} {ACTION_WORDS[result.action]}
            {result.refused.length > 0 ? `, ${result.refused.length} refused:` : '.'}
          </p>
          {result.refused.length > 0 && (
            <ul>
              {result.refused.map(({ flag, reason }) => (
                <li key={flag.id}>
                  <span className="mono">{flag.instanceId}</span>: {reason}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <DataTable
        label="Manual-install flags"
        caption={
          <>
            Page {pages.pageNumber}: {items.length} flag{items.length === 1 ? '' : 's'}
          </>
        }
        columns={[
          ...(canOperate
            ? [
                <input
                  type="checkbox"
                  aria-label="Select every flag on this page"
                  checked={allSelected}
                  onChange={() => setSelected(allSelected ? new Set() : new Set(items.map((f) => f.id)))}
                />,
              ]
            : []),
          'Instance',
          'Status',
          'Account',
          'Reason',
          'Recommended action',
          'Rollout',
          'Note',
        ]}
        empty={items.length === 0 && !flags.isLoading ? 'No flag matches.' : undefined}
      >
        {items.map((flag) => (
          <tr key={flag.id}>
            {canOperate && (
              <td>
                <input
                  type="checkbox"
                  aria-label={`Select flag of ${flag.instanceId}`}
                  checked={selected.has(flag.id)}
                  onChange={() =>
                    setSelected((current) => {
                      const next = new Set(current);
                      if (next.has(flag.id)) next.delete(flag.id);
                      else next.add(flag.id);
                      return next;
                    })
                  }
                />
              </td>
            )}
            <th scope="row">
              <Link className="mono" to={`/rollouts/${flag.rolloutId}/instances/${flag.instanceId}`}>
                {flag.instanceId}
              </Link>
            </th>
            <td>
              <StatusBadge status={flag.status} />
            </td>
            <td className="mono">{flag.userId}</td>
            <td>{flag.reason}</td>
            <td>{flag.recommendedAction}</td>
            <td>
              <Link className="mono" to={`/rollouts/${flag.rolloutId}`}>
                {shortId(flag.rolloutId)}
              </Link>
            </td>
            <td>{flag.note ?? '—'}</td>
          </tr>
        ))}
      </DataTable>
      <Pager pages={pages} nextCursor={flags.data?.nextCursor} />
    </>
  );
}
