import type { InstanceState, RolloutProgress } from '@fleet/rollout-domain';
import { computeProgress, isFinalRolloutStatus } from '@fleet/rollout-domain';
import type { Database } from './client.ts';
import { HOST_FLAG_JOIN, REPORT_COLUMNS, reportRowFrom } from './report-rows.ts';
import type { RawReportRow, ReportInstanceRow } from './report-rows.ts';
import type { InstanceCounts, RolloutRecord } from './rollouts.ts';

/** Reads behind the failure report, progress and the retry of failed instances. */

/**
 * Which instances a report covers. `failures`: failed installs, then succeeded installs whose verification failed.
 * `all`: every instance, state by state.
 */
export type ReportScope = 'failures' | 'all';

type Segment = { state: InstanceState; verificationFailedOnly: boolean };

const SEGMENTS: Record<ReportScope, Segment[]> = {
  failures: [
    { state: 'failed', verificationFailedOnly: false },
    { state: 'succeeded', verificationFailedOnly: true },
  ],
  all: (['failed', 'succeeded', 'skipped', 'cancelled', 'in_progress', 'pending'] as const).map((state) => ({
    state,
    verificationFailedOnly: false,
  })),
};

/** One keyset page of a segment; unnamed, so planned with the page's own cursor (see listInstances). */
async function reportPage(
  db: Database,
  rolloutId: string,
  segment: Segment,
  after: bigint,
  limit: number,
): Promise<ReportInstanceRow[]> {
  const { rows } = await db.pool.query<RawReportRow>({
    text: `SELECT ${REPORT_COLUMNS}
      FROM rollout_instance ri
      ${HOST_FLAG_JOIN}
      WHERE ri.rollout_id = $1::uuid AND ri.state = $2::"InstanceState" AND ri.id > $3::bigint
        ${segment.verificationFailedOnly ? `AND ri.verification = 'failed'` : ''}
      ORDER BY ri.id
      LIMIT $4`,
    values: [rolloutId, segment.state, after.toString(), limit],
  });
  return rows.map(reportRowFrom);
}

/**
 * The report's instances, a page at a time: keyset pagination on the (rollout_id, state, id) index, so memory
 * stays at one page (`pageSize`, default 2000) whatever the rollout's size, and page N costs what page 1 does.
 */
export async function* iterateReportInstances(
  db: Database,
  rolloutId: string,
  options: { scope: ReportScope; pageSize?: number },
): AsyncGenerator<ReportInstanceRow[], void, void> {
  const pageSize = options.pageSize ?? 2000;
  for (const segment of SEGMENTS[options.scope]) {
    let after = -1n;
    for (;;) {
      const page = await reportPage(db, rolloutId, segment, after, pageSize);
      if (page.length > 0) yield page;
      if (page.length < pageSize) break;
      after = page[page.length - 1]!.id;
    }
  }
}

/** Longest window `ratePerSecond` is measured over, in seconds: the last minute. */
export const PROGRESS_WINDOW_SECONDS = 60;

/**
 * Shortest window, in seconds. A rollout younger than this is measured as if it were this old, so the first
 * finish of a rollout 50 ms old does not read as 20 a second; from then on its rate is over its whole age.
 */
export const PROGRESS_MIN_WINDOW_SECONDS = 1;

/** The seconds a rollout's progress counts its finishes over (see rolloutProgress). */
export type ProgressWindow = {
  /** The window's length, exact (shown rounded). */
  seconds: number;
  /** Finishes of the buckets from `from` (inclusive) to `to` (exclusive) count: whole seconds. */
  from: Date;
  to: Date;
  /** Completed or cancelled: no rate to show, nothing to read. */
  final: boolean;
};

/**
 * The window of rolloutProgress, as of `now`; for a completed or cancelled rollout as of its finish, so that its
 * progress, and so its status body and ETag, stop changing once it is over: measured as of `now`, the window of a
 * finished rollout younger than a minute grew with every second and no poller of it ever got a 304. Its finish, not
 * the earlier of the two: the API's `now` is the request's whole second, often before a finish within that second,
 * and the first polls after the finish would otherwise see a window that the next second's polls do not.
 */
export function progressWindow(
  rollout: Pick<RolloutRecord, 'status' | 'createdAt' | 'finishedAt'>,
  now: Date,
): ProgressWindow {
  const final = isFinalRolloutStatus(rollout.status);
  const endMs = final && rollout.finishedAt ? rollout.finishedAt.getTime() : now.getTime();
  const ageMs = endMs - rollout.createdAt.getTime();
  const young = ageMs < PROGRESS_WINDOW_SECONDS * 1000;
  return {
    seconds: young ? Math.max(PROGRESS_MIN_WINDOW_SECONDS, ageMs / 1000) : PROGRESS_WINDOW_SECONDS,
    from: young
      ? new Date(Math.floor(rollout.createdAt.getTime() / 1000) * 1000)
      : new Date(Math.round((endMs - PROGRESS_WINDOW_SECONDS * 1000) / 1000) * 1000),
    to: new Date(Math.ceil(endMs / 1000) * 1000),
    final,
  };
}

/** The progress of `counts` with `finishedInWindow` finishes in `window` (see rolloutProgress). */
export function progressOf(
  rollout: Pick<RolloutRecord, 'status'>,
  counts: InstanceCounts,
  window: ProgressWindow,
  finishedInWindow: number,
  now: Date,
): RolloutProgress {
  return computeProgress({
    done: counts.succeeded + counts.failed + counts.cancelled + counts.skipped,
    total: counts.total,
    finishedInWindow: window.final ? 0 : finishedInWindow,
    windowSeconds: window.seconds,
    status: rollout.status,
    now,
  });
}

/**
 * done / total, instances finished per second over the window, ETA; for a finished rollout no rate and no ETA,
 * for a paused one no ETA (see computeProgress).
 *
 * The window is the last minute, or the rollout's age (since it was created; its first call follows within the
 * enqueue) while it is younger than that, but at least PROGRESS_MIN_WINDOW_SECONDS: dividing a young rollout's
 * finishes by a whole minute made a rollout 5 s old look twelve times slower than it was. A finished rollout's window
 * ends at its finish (progressWindow).
 *
 * Finishes are summed from rollout_finish_second, the per-second counts the triggers on rollout_instance keep (at
 * most 61 rows), not counted over the finished rows, which walked every instance finished in the window (up to
 * 100,000 at 2,000 finishes a second; the (rollout_id, finished_at) index it used is gone since the migration
 * install_path_indexes). Buckets are whole seconds, so the window is rounded. A minute-long window starts at
 * `since` = now - 60 s rounded to the nearest second (a second at the start counts whole when more than half of
 * it lies in the window; at exactly half it does not). A young rollout's window starts with the whole second it
 * was created in: none of its instances finished before it existed, so that is exact. Both end at `now` rounded up
 * to a whole second: when `now` is a whole second (the API's, see etag.ts) the count is exactly that of the window;
 * otherwise it adds any finishes later than `now` within now's second (counting that second's bucket whole made a
 * rollout 5 s old read a quarter too fast when `now` was a whole second).
 */
export async function rolloutProgress(
  db: Database,
  rollout: Pick<RolloutRecord, 'id' | 'status' | 'createdAt' | 'finishedAt'>,
  counts: InstanceCounts,
  now: Date = new Date(),
): Promise<RolloutProgress> {
  const window = progressWindow(rollout, now);
  // A finished rollout shows no rate: nothing to read.
  const finishedInWindow = window.final
    ? 0
    : Number(
        (
          await db.pool.query<{ n: string | null }>({
            name: 'fleet_finished_in_window',
            text: `SELECT sum(n) AS n FROM rollout_finish_second
              WHERE rollout_id = $1::uuid AND second >= $2::timestamptz AND second < $3::timestamptz`,
            values: [rollout.id, window.from, window.to],
          })
        ).rows[0]?.n ?? 0,
      );
  return progressOf(rollout, counts, window, finishedInWindow, now);
}

/**
 * Deletes the finish counts of seconds before `before` (all rollouts): progress only reads the last minute, and the
 * triggers add a row per rollout and second with a finish. The reconciler calls it every pass. Rows are locked in
 * key order, the order the triggers lock them in, so it cannot deadlock with a late write to an old second.
 * Returns how many rows went.
 */
export async function deleteFinishSecondsBefore(db: Database, before: Date): Promise<number> {
  return db.prisma.$executeRaw`
    DELETE FROM rollout_finish_second WHERE (rollout_id, second) IN (
      SELECT rollout_id, second FROM rollout_finish_second WHERE second < ${before} ORDER BY rollout_id, second FOR UPDATE)`;
}

export type VerificationCounts = { pending: number; verified: number; failed: number; notChecked: number };

/**
 * Verification outcome of a rollout's succeeded installs, from rollout_verification_count (kept by the triggers on
 * rollout_instance, migration rollout_failure_counts): a few rows, not a count over every succeeded instance.
 */
export async function countVerifications(db: Database, rolloutId: string): Promise<VerificationCounts> {
  const { rows } = await db.pool.query<{ verification: string; n: number }>({
    name: 'fleet_count_verifications',
    text: `SELECT verification, n FROM rollout_verification_count WHERE rollout_id = $1::uuid`,
    values: [rolloutId],
  });
  return verificationCountsOf(rows);
}

/** VerificationCounts from rollout_verification_count rows (an outcome other than the three is "not checked"). */
export function verificationCountsOf(rows: Iterable<{ verification: string; n: number | string }>): VerificationCounts {
  const counts: VerificationCounts = { pending: 0, verified: 0, failed: 0, notChecked: 0 };
  for (const row of rows) {
    const n = Number(row.n);
    if (row.verification === 'pending') counts.pending += n;
    else if (row.verification === 'verified') counts.verified += n;
    else if (row.verification === 'failed') counts.failed += n;
    else counts.notChecked += n;
  }
  return counts;
}

/** A rollout made by retrying another (POST /v1/rollouts/:id/retry). */
export type RetryRollout = { id: string; status: string; totalInstances: number; createdAt: Date };

/** Rollouts made by retrying `rolloutId` (POST /v1/rollouts/:id/retry), oldest first. */
export async function listRetryRollouts(db: Database, rolloutId: string): Promise<RetryRollout[]> {
  const { rows } = await db.pool.query<RetryRollout>({
    name: 'fleet_list_retry_rollouts',
    text: `SELECT id::text AS "id", status::text AS "status", total_instances AS "totalInstances", created_at AS "createdAt"
      FROM rollout WHERE parent_rollout_id = $1::uuid ORDER BY created_at`,
    values: [rolloutId],
  });
  return rows;
}

/** Links a retry rollout to the rollout it retries. */
export async function setParentRollout(db: Database, rolloutId: string, parentRolloutId: string): Promise<void> {
  await db.prisma.rollout.updateMany({ where: { id: rolloutId, parentRolloutId: null }, data: { parentRolloutId } });
}
