import type { RedisClient } from '@fleet/queue';
import type { CmsClient, NodeStatusListChunkResult } from '@fleet/cms-client';
import { AGENT_STATUS_IDS_PER_CALL, callAgentStatus } from '@fleet/cms-client';
import { assertNever } from '@fleet/errors';
import { createAccountRateLimiter } from '@fleet/limits';
import type { AgentPrecheck, InstallDriver } from '@fleet/rollout-domain';
import { agentStatusActionOf, decideAgentPrecheck } from '@fleet/rollout-domain';

/**
 * A dry run's pre-check: every instance's agent status from CloudMonitor, 50 ids a call, with the status call of the
 * rollout's driver (NodeStatusList for node-install, DescribeMonitoringAgentStatuses for install-monitoring-agent:
 * both answer the same list, their statuses read into the same categories), signed as the account's calls are (its
 * own credentials and endpoint when it has them). Each call is on the account's own rate schedule in Redis, the one
 * the workers' install calls keep, so a pre-check and a running rollout of the account share its quota rather than
 * add up past it. Writes nothing but that schedule.
 */

/** Calls in flight at once: enough to keep to the account's rate at CloudMonitor's usual latency. */
const PRECHECK_PARALLEL_CALLS = 8;
/** A throttled call is tried again this many times (after the rate halves) before its ids count as unchecked. */
const PRECHECK_THROTTLE_RETRIES = 3;

export type PrecheckDeps = {
  /**
   * The CloudMonitor client of an account (its own credentials and endpoint, else the API's CMS_* pair): see
   * @fleet/accounts. May throw AccountUnusableError (the account's calls cannot be made from this API).
   */
  cmsFor(userId: string): Promise<CmsClient>;
  redis: RedisClient;
  queuePrefix: string;
  /** Waits before a call's start on the schedule, ms. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * The clock of the account's call schedule, which the workers keep on Postgres's time (DatabaseClock): the same
   * here, or a host whose clock is off would reserve its calls beside theirs at the wrong places. Default this host's.
   */
  scheduleNow?: () => Date;
};

export type PrecheckResult = {
  /** Status calls made (throttled ones tried again included). */
  calls: number;
  counts: Record<AgentPrecheck, number>;
  /** Instances per agent status CloudMonitor reported (`running`, `not_installed`, `stopped`, `install_faild`, ...). */
  byStatus: Record<string, number>;
  /** Already running: would end `skipped` with `skipInstalled`. */
  running: string[];
  /** Would be installed, with the status reported. */
  wouldInstall: { instanceId: string; status: string }[];
  /** Unknown to CloudMonitor: NodeInstall would fail as `instance_not_found`. */
  notFound: string[];
  /**
   * Driver install-monitoring-agent only: reported `not_installed` with AutoInstall false, i.e. no Cloud Assistant
   * client. Also in `wouldInstall` (the call would be accepted), but no agent would come: verification would fail them
   * as `cloud_assistant_missing`.
   */
  noCloudAssistant: string[];
  /** Not checked: their call failed (its error code and RequestId). */
  unchecked: { instanceId: string; errorCode: string | null; requestId: string | null }[];
};

/** One status call on the account's schedule; a throttled one slows the schedule and is tried again. */
async function checkChunk(
  deps: PrecheckDeps,
  limiter: ReturnType<typeof createAccountRateLimiter>,
  call: { userId: string; cms: CmsClient; driver: InstallDriver },
  ids: string[],
  counted: { calls: number },
): Promise<NodeStatusListChunkResult> {
  const { userId } = call;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let tries = 0; ; tries++) {
    const waitMs = await limiter.reserve(userId);
    if (waitMs > 0) await sleep(waitMs);
    counted.calls++;
    const chunk = await callAgentStatus(call.cms, agentStatusActionOf(call.driver), ids);
    if (chunk.outcome.kind !== 'throttled' || tries >= PRECHECK_THROTTLE_RETRIES) return chunk;
    await limiter.onThrottled(userId);
  }
}

export async function precheckInstances(
  deps: PrecheckDeps,
  input: { userId: string; driver: InstallDriver; instanceIds: readonly string[]; accountRateLimitRps: number },
): Promise<PrecheckResult> {
  const call = { userId: input.userId, driver: input.driver, cms: await deps.cmsFor(input.userId) };
  const limiter = createAccountRateLimiter(deps.redis, {
    prefix: deps.queuePrefix,
    maxRatePerSecond: input.accountRateLimitRps,
    ...(deps.scheduleNow ? { now: () => deps.scheduleNow!().getTime() } : {}),
  });
  const chunks: string[][] = [];
  for (let at = 0; at < input.instanceIds.length; at += AGENT_STATUS_IDS_PER_CALL)
    chunks.push(input.instanceIds.slice(at, at + AGENT_STATUS_IDS_PER_CALL));
  const answers: NodeStatusListChunkResult[] = new Array(chunks.length);
  const counted = { calls: 0 };
  let next = 0;
  const lane = async () => {
    while (next < chunks.length) {
      const index = next++;
      answers[index] = await checkChunk(deps, limiter, call, chunks[index]!, counted);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PRECHECK_PARALLEL_CALLS, chunks.length) }, lane));

  const result: PrecheckResult = {
    calls: counted.calls,
    counts: { skip: 0, install: 0, not_found: 0, unchecked: 0 },
    byStatus: {},
    running: [],
    wouldInstall: [],
    notFound: [],
    noCloudAssistant: [],
    unchecked: [],
  };
  chunks.forEach((ids, index) => {
    const answer = answers[index]!;
    const reported = new Map(answer.nodes.map((node) => [node.instanceId, node]));
    for (const instanceId of ids) {
      const node = reported.get(instanceId);
      const status = node?.status ?? null;
      const verdict = decideAgentPrecheck({ answered: answer.outcome.kind === 'success', status });
      result.counts[verdict]++;
      if (status !== null) result.byStatus[status] = (result.byStatus[status] ?? 0) + 1;
      switch (verdict) {
        case 'skip':
          result.running.push(instanceId);
          break;
        case 'install':
          result.wouldInstall.push({ instanceId, status: status! });
          if (input.driver === 'install-monitoring-agent' && status === 'not_installed' && node?.autoInstall === false)
            result.noCloudAssistant.push(instanceId);
          break;
        case 'not_found':
          result.notFound.push(instanceId);
          break;
        case 'unchecked':
          result.unchecked.push({ instanceId, errorCode: answer.errorCode, requestId: answer.requestId });
          break;
        default:
          assertNever(verdict, 'agent pre-check');
      }
    }
  });
  return result;
}
