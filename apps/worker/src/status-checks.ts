import type { CmsClient, NodeStatusListChunkResult } from '@fleet/cms-client';
import { AGENT_STATUS_IDS_PER_CALL, callAgentStatus } from '@fleet/cms-client';
import type { AccountRateLimiter } from '@fleet/limits';
import type { InstallDriver } from '@fleet/rollout-domain';
import { agentStatusActionOf } from '@fleet/rollout-domain';

/**
 * skipInstalled's status checks, batched: the instances the jobs at hand ask about within a short window go to
 * CloudMonitor together, one status call per account and driver and AGENT_STATUS_IDS_PER_CALL ids, each call on the
 * account's rate schedule (the one the install calls keep). The driver picks the call: NodeStatusList for
 * node-install, DescribeMonitoringAgentStatuses (2019-01-01) for install-monitoring-agent, whose install call is of
 * the same API version and whose statuses are the ones its verification reads. A throttled answer slows the schedule;
 * its instances are left unchecked (and so installed: neither install call reinstalls a running agent unless forced).
 */

/** One instance's share of a batched call: the call's result, and the status it reported for the instance. */
type StatusCheckAnswer = {
  call: NodeStatusListChunkResult;
  /** The normalised agent status; null when the call failed or left the instance out. */
  status: string | null;
};

export type StatusChecks = {
  check(userId: string, driver: InstallDriver, instanceId: string): Promise<StatusCheckAnswer>;
};

export type StatusChecksOptions = {
  /** The account's client (its own credentials and endpoint, see @fleet/accounts). */
  cmsFor(userId: string): Promise<CmsClient>;
  accountRate: AccountRateLimiter;
  /** How long the first check of a batch waits for others to join it, ms. Default 20. */
  batchWindowMs?: number;
  sleep?: (ms: number) => Promise<void>;
};

type Waiting = { instanceId: string; resolve(answer: StatusCheckAnswer): void; reject(error: unknown): void };

export function createStatusChecks(options: StatusChecksOptions): StatusChecks {
  const windowMs = options.batchWindowMs ?? 20;
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  /** Per account and driver: the checks waiting for the next call, and the timer that sends it. */
  const batches = new Map<
    string,
    { userId: string; driver: InstallDriver; waiting: Waiting[]; timer: NodeJS.Timeout }
  >();

  async function send(userId: string, driver: InstallDriver, waiting: Waiting[]): Promise<void> {
    try {
      const waitMs = await options.accountRate.reserve(userId);
      if (waitMs > 0) await sleep(waitMs);
      const cms = await options.cmsFor(userId);
      const call = await callAgentStatus(
        cms,
        agentStatusActionOf(driver),
        waiting.map((w) => w.instanceId),
      );
      if (call.outcome.kind === 'throttled') await options.accountRate.onThrottled(userId).catch(() => undefined);
      const reported = new Map(call.nodes.map((node) => [node.instanceId, node.status]));
      for (const w of waiting) w.resolve({ call, status: reported.get(w.instanceId) ?? null });
    } catch (error) {
      for (const w of waiting) w.reject(error);
    }
  }

  function flush(key: string): void {
    const batch = batches.get(key);
    if (!batch) return;
    clearTimeout(batch.timer);
    batches.delete(key);
    void send(batch.userId, batch.driver, batch.waiting);
  }

  return {
    check(userId, driver, instanceId) {
      return new Promise<StatusCheckAnswer>((resolve, reject) => {
        const key = `${userId}\u0000${driver}`;
        let batch = batches.get(key);
        if (!batch) {
          batch = { userId, driver, waiting: [], timer: setTimeout(() => flush(key), windowMs) };
          batches.set(key, batch);
        }
        batch.waiting.push({ instanceId, resolve, reject });
        if (batch.waiting.length >= AGENT_STATUS_IDS_PER_CALL) flush(key);
      });
    },
  };
}
