import { performance } from 'node:perf_hooks';
import { instanceIds } from '@fleet/testing';
import { prepareSimulator } from './clients.ts';
import { table } from './report.ts';
import type { BenchStack } from './stack.ts';

/**
 * `--only plans` (issue 21's two figures): how long `POST /v1/rollouts` with `dryRun: true` takes to answer for
 * 100,000 ids of which 1,000 are bad (target under 5 s), and a dry run with `precheck: true` of 10,000 ids against
 * the simulator at its default latency, on the account's default rate (target under a minute). The API alone: no
 * worker runs, so no limits are published and the pre-check keeps the API's default account rate. Times are from the
 * request sent to the answer read, each plan's own figures checked (all 1,000 bad ids listed, every id pre-checked)
 * so that a fast wrong answer is not a figure. Nothing here asserts a time.
 */

/** The simulator's own default latency (DEFAULT_SCENARIO in @fleet/cms-simulator), ms: the bench starts it otherwise. */
const SIMULATOR_DEFAULT_LATENCY_MS = 50;

export type PlansOptions = {
  /** Ids of the plain dry run (100,000), of which `badIds` (1,000) are refused. */
  dryRunIds: number;
  badIds: number;
  /** Ids of the pre-checked dry run (10,000). */
  precheckIds: number;
  rounds: number;
  log: (line: string) => void;
};

/** One kind of plan over the rounds: seconds per round, and the issue's target. */
type PlanTiming = { ids: number; seconds: number[]; medianSeconds: number; targetSeconds: number };

export type PlansBenchResult = {
  dryRun: PlanTiming & { refused: number };
  precheck: PlanTiming & {
    /** Status calls of the last round (50 ids each, throttled ones tried again included). */
    calls: number;
    /** The account's configured rate the plan shows, requests per second; null: none published, the API's default. */
    accountRateLimitRps: number | null;
    counts: Record<string, number>;
  };
};

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

// The plan's JSON as the API sends it; only the fields read here (rollout-plan-schema.ts in the API has the rest).
type PlanBody = {
  refused: { index: number }[];
  limits: { accountRateLimitRps: number | null };
  precheck: { calls: number; counts: Record<string, number> } | null;
};

async function timedPlan(
  stack: BenchStack,
  body: Record<string, unknown>,
): Promise<{ seconds: number; plan: PlanBody }> {
  const started = performance.now();
  const res = await fetch(`${stack.apiUrl}/v1/rollouts`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${stack.apiKey}` },
    body: JSON.stringify({ userId: stack.userId, dryRun: true, ...body }),
  });
  const text = await res.text();
  const seconds = (performance.now() - started) / 1000;
  if (res.status !== 200) throw new Error(`dry run answered ${res.status}: ${text.slice(0, 500)}`);
  return { seconds, plan: JSON.parse(text) as PlanBody };
}

/** `count` ids, every (count / bad)-th of the first `bad` slots replaced by one the API refuses; their indexes. */
function idsWithBadOnes(count: number, bad: number): { ids: string[]; badIndexes: number[] } {
  const ids = instanceIds(count, 'i-plan');
  const step = Math.floor(count / bad);
  const badIndexes = Array.from({ length: bad }, (_, n) => n * step + 3);
  for (const index of badIndexes) ids[index] = `I-Bad${index}`;
  return { ids, badIndexes };
}

export async function measurePlans(stack: BenchStack, options: PlansOptions): Promise<PlansBenchResult> {
  const { log } = options;
  await prepareSimulator(stack, SIMULATOR_DEFAULT_LATENCY_MS);
  const { ids, badIndexes } = idsWithBadOnes(options.dryRunIds, options.badIds);
  const precheckIds = instanceIds(options.precheckIds, 'i-pcheck');
  const dryRunSeconds: number[] = [];
  const precheckSeconds: number[] = [];
  let last: PlanBody | undefined;
  for (let round = 0; round < options.rounds; round++) {
    log(`plans round ${round + 1}: dry run of ${ids.length.toLocaleString('en-US')} ids, ${badIndexes.length} bad`);
    const dry = await timedPlan(stack, { instanceIds: ids, concurrency: 100 });
    const listed = dry.plan.refused.map((r) => r.index);
    if (listed.length !== badIndexes.length || listed.some((index, n) => index !== badIndexes[n]))
      throw new Error(`the plan listed ${listed.length} refused ids, not the ${badIndexes.length} bad ones`);
    dryRunSeconds.push(dry.seconds);

    log(`plans round ${round + 1}: pre-check of ${precheckIds.length.toLocaleString('en-US')} ids`);
    const checked = await timedPlan(stack, { instanceIds: precheckIds, precheck: true });
    const counts = checked.plan.precheck?.counts ?? {};
    const total = Object.values(counts).reduce((sum, n) => sum + n, 0);
    if (total !== precheckIds.length || (counts['unchecked'] ?? 0) > 0)
      throw new Error(`the pre-check accounted for ${total} of ${precheckIds.length} ids: ${JSON.stringify(counts)}`);
    precheckSeconds.push(checked.seconds);
    last = checked.plan;
    log(`  ${dry.seconds.toFixed(2)} s and ${checked.seconds.toFixed(2)} s`);
  }
  return {
    dryRun: {
      ids: ids.length,
      refused: badIndexes.length,
      seconds: dryRunSeconds,
      medianSeconds: median(dryRunSeconds),
      targetSeconds: 5,
    },
    precheck: {
      ids: precheckIds.length,
      seconds: precheckSeconds,
      medianSeconds: median(precheckSeconds),
      targetSeconds: 60,
      calls: last!.precheck!.calls,
      accountRateLimitRps: last!.limits.accountRateLimitRps,
      counts: last!.precheck!.counts,
    },
  };
}

export function renderPlansReport(result: PlansBenchResult): string {
  const row = (what: string, timing: PlanTiming) => [
    what,
    timing.ids.toLocaleString('en-US'),
    timing.medianSeconds.toFixed(2),
    Math.max(...timing.seconds).toFixed(2),
    `under ${timing.targetSeconds}`,
    timing.medianSeconds < timing.targetSeconds ? 'yes' : 'no',
  ];
  const { precheck } = result;
  return [
    `Dry-run plans, POST /v1/rollouts with dryRun: true, ${result.dryRun.seconds.length} round(s), the API alone`,
    '',
    table(
      ['plan', 'ids', 'median s', 'max s', 'target s', 'within'],
      [
        row(`dry run, ${result.dryRun.refused.toLocaleString('en-US')} bad ids listed`, result.dryRun),
        row('dry run with precheck', precheck),
      ],
    ),
    '',
    `pre-check: ${precheck.calls} status calls (${(precheck.calls / precheck.medianSeconds).toFixed(1)}/s at the median), ` +
      `account rate ${precheck.accountRateLimitRps === null ? "the API's default" : `${precheck.accountRateLimitRps}/s`}, ` +
      `simulator latency ${SIMULATOR_DEFAULT_LATENCY_MS} ms; counts ${JSON.stringify(precheck.counts)}`,
  ].join('\n');
}
