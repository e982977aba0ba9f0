import { performance } from 'node:perf_hooks';
import { waitFor } from '@fleet/testing';
import type { BenchStack } from './stack.ts';

/** What the harness reads from `GET /_sim/stats` (a subset). */
export type SimStats = {
  requests: number;
  inFlight: number;
  maxInFlight: number;
  byCode: Record<string, number>;
  callsByInstance: Record<string, number>;
};

export async function simStats(stack: BenchStack): Promise<SimStats> {
  const res = await fetch(`${stack.simUrl}_sim/stats`);
  if (!res.ok) throw new Error(`GET /_sim/stats: ${res.status}`);
  return (await res.json()) as SimStats;
}

/** Zeroes the simulator's counters (maxInFlight included) and sets its latency for the next run. */
export async function prepareSimulator(stack: BenchStack, latencyMs: number): Promise<void> {
  const scenario = await fetch(`${stack.simUrl}_sim/scenario`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ latencyMs, failureRate: 0 }),
  });
  if (!scenario.ok) throw new Error(`POST /_sim/scenario: ${scenario.status} ${await scenario.text()}`);
  await scenario.arrayBuffer().catch(() => undefined);
  const reset = await fetch(`${stack.simUrl}_sim/reset`, { method: 'POST' });
  if (!reset.ok) throw new Error(`POST /_sim/reset: ${reset.status}`);
  await reset.arrayBuffer();
}

/** Limit facts of one run, from the simulator's counters. */
export function limitFacts(stats: SimStats, concurrency: number) {
  const calls = Object.values(stats.callsByInstance);
  return {
    requests: stats.requests,
    maxInFlight: stats.maxInFlight,
    concurrency,
    held: stats.maxInFlight <= concurrency,
    /** Instances that got more than one NodeInstall call (none expected: the simulator fails nothing here). */
    instancesCalledTwice: calls.filter((n) => n > 1).length,
  };
}

export type CreatedRollout = { id: string; msTo202: number; requestStartedAtMs: number };

/** `POST /v1/rollouts` with the bench's admin key (for `userId`, default the bench's account); times it to its 202. */
export async function createRollout(
  stack: BenchStack,
  instanceIds: readonly string[],
  concurrency: number,
  userId: string = stack.userId,
): Promise<CreatedRollout> {
  const body = JSON.stringify({ userId, instanceIds, force: true, concurrency });
  const requestStartedAtMs = Date.now();
  const t0 = performance.now();
  const res = await fetch(`${stack.apiUrl}/v1/rollouts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
    body,
  });
  const answer = (await res.json()) as { id?: string };
  const msTo202 = performance.now() - t0;
  if (res.status !== 202 || !answer.id)
    throw new Error(`POST /v1/rollouts answered ${res.status}: ${JSON.stringify(answer).slice(0, 500)}`);
  return { id: answer.id, msTo202, requestStartedAtMs };
}

export type RolloutStatusView = { status: string; counts: Record<string, number> };

/** `GET /v1/rollouts/:id`, timed (ms, the whole answer read). */
export async function getRollout(stack: BenchStack, id: string): Promise<{ ms: number; view: RolloutStatusView }> {
  const t0 = performance.now();
  const res = await fetch(`${stack.apiUrl}/v1/rollouts/${id}`, {
    headers: { authorization: `Bearer ${stack.apiKey}` },
  });
  const view = (await res.json()) as RolloutStatusView;
  const ms = performance.now() - t0;
  if (res.status !== 200)
    throw new Error(`GET /v1/rollouts/${id} answered ${res.status}: ${JSON.stringify(view).slice(0, 500)}`);
  return { ms, view };
}

export type RolloutFacts = {
  status: string;
  /** When the rollout became `completed` (the statement that saw its last instance final), epoch ms. */
  finishedAtMs: number | null;
  firstInstanceFinishedAtMs: number | null;
  /** Instance finish times at 10% and 90% of the rollout (for the steady-state rate). */
  p10FinishedAtMs: number | null;
  p90FinishedAtMs: number | null;
  succeeded: number;
  /** Attempt rows with an answer recorded, and attempt rows in all. */
  attemptsAnswered: number;
  attempts: number;
};

/** Facts of a rollout straight from Postgres (the harness observes; it does not go through the API for these). */
export async function rolloutFacts(stack: BenchStack, id: string): Promise<RolloutFacts> {
  const { rows } = await stack.db.query<{
    status: string;
    finished_at: Date | null;
    first: Date | null;
    p10: Date | null;
    p90: Date | null;
    succeeded: string;
    answered: string;
    attempts: string;
  }>(
    `SELECT r.status::text AS status, r.finished_at,
            (SELECT min(finished_at) FROM rollout_instance WHERE rollout_id = r.id) AS first,
            (SELECT percentile_disc(0.1) WITHIN GROUP (ORDER BY finished_at) FROM rollout_instance WHERE rollout_id = r.id) AS p10,
            (SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY finished_at) FROM rollout_instance WHERE rollout_id = r.id) AS p90,
            (SELECT count(*) FROM rollout_instance WHERE rollout_id = r.id AND state = 'succeeded') AS succeeded,
            (SELECT count(*) FROM install_attempt WHERE rollout_id = r.id AND finished_at IS NOT NULL) AS answered,
            (SELECT count(*) FROM install_attempt WHERE rollout_id = r.id) AS attempts
     FROM rollout r WHERE r.id = $1::uuid`,
    [id],
  );
  const row = rows[0];
  if (!row) throw new Error(`rollout ${id} not found in the bench database`);
  return {
    status: row.status,
    finishedAtMs: row.finished_at?.getTime() ?? null,
    firstInstanceFinishedAtMs: row.first?.getTime() ?? null,
    p10FinishedAtMs: row.p10?.getTime() ?? null,
    p90FinishedAtMs: row.p90?.getTime() ?? null,
    succeeded: Number(row.succeeded),
    attemptsAnswered: Number(row.answered),
    attempts: Number(row.attempts),
  };
}

/**
 * Polls Postgres until every job of the rollout's first wave is in Redis (`enqueued_at` set: the API may answer 202
 * before, see ENQUEUE_WAIT_MS) and returns when that was, epoch ms; throws after `timeoutMs`.
 */
export async function waitForEnqueued(stack: BenchStack, id: string, timeoutMs: number): Promise<number> {
  const enqueuedAt = await waitFor(
    `rollout ${id} enqueued`,
    async () =>
      (await stack.db.query<{ enqueued_at: Date | null }>(`SELECT enqueued_at FROM rollout WHERE id = $1::uuid`, [id]))
        .rows[0]?.enqueued_at,
    { timeoutMs, intervalMs: 20 },
  );
  return enqueuedAt.getTime();
}

/** Polls Postgres until the rollout is `completed` (or another final status), or throws after `timeoutMs`. */
export async function waitForRolloutDone(
  stack: BenchStack,
  id: string,
  timeoutMs: number,
  onTick?: () => void,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await stack.db.query<{ status: string }>(
      `SELECT status::text AS status FROM rollout WHERE id = $1::uuid`,
      [id],
    );
    const status = rows[0]?.status;
    if (status === 'completed' || status === 'cancelled') return;
    if (Date.now() > deadline) {
      const counts = await stack.db.query(
        `SELECT state::text, count(*)::int AS n FROM rollout_instance WHERE rollout_id = $1::uuid GROUP BY state`,
        [id],
      );
      throw new Error(
        `rollout ${id} still ${status} after ${timeoutMs} ms: ${JSON.stringify(counts.rows)}\n${stack
          .workers()
          .map((w) => w.output().slice(-3000))
          .join('\n')}`,
      );
    }
    onTick?.();
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
