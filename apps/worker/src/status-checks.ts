import type { CmsClient, NodeStatusListChunkResult } from '@fleet/cms-client';
import type { AccountRateLimiter } from '@fleet/limits';

/**
 * skipInstalled's status checks, batched: the instances the jobs at hand ask about within a short window go to
 * CloudMonitor together, one NodeStatusList call per account and STATUS_IDS_PER_CALL ids, each call on the account's
 * rate schedule (the one NodeInstall calls keep). A throttled answer slows the schedule; its instances are left
 * unchecked (and so installed: NodeInstall leaves a running agent be).
 */

/** Most ids per NodeStatusList call (CloudMonitor's most). */
const STATUS_IDS_PER_CALL = 50;

/** One instance's share of a batched call: the call's result, and the status it reported for the instance. */
type StatusCheckAnswer = {
  call: NodeStatusListChunkResult;
  /** The normalised agent status; null when the call failed or left the instance out. */
  status: string | null;
};

export type StatusChecks = { check(userId: string, instanceId: string): Promise<StatusCheckAnswer> };

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
  /** Per account: the checks waiting for the next call, and the timer that sends it. */
  const batches = new Map<string, { waiting: Waiting[]; timer: NodeJS.Timeout }>();

  async function send(userId: string, waiting: Waiting[]): Promise<void> {
    try {
      const waitMs = await options.accountRate.reserve(userId);
      if (waitMs > 0) await sleep(waitMs);
      const cms = await options.cmsFor(userId);
      const { chunks } = await cms.nodeStatusList({ instanceIds: waiting.map((w) => w.instanceId) });
      const call = chunks[0]!;
      if (call.outcome.kind === 'throttled') await options.accountRate.onThrottled(userId).catch(() => undefined);
      const reported = new Map(call.nodes.map((node) => [node.instanceId, node.status]));
      for (const w of waiting) w.resolve({ call, status: reported.get(w.instanceId) ?? null });
    } catch (error) {
      for (const w of waiting) w.reject(error);
    }
  }

  function flush(userId: string): void {
    const batch = batches.get(userId);
    if (!batch) return;
    clearTimeout(batch.timer);
    batches.delete(userId);
    void send(userId, batch.waiting);
  }

  return {
    check(userId, instanceId) {
      return new Promise<StatusCheckAnswer>((resolve, reject) => {
        let batch = batches.get(userId);
        if (!batch) {
          batch = { waiting: [], timer: setTimeout(() => flush(userId), windowMs) };
          batches.set(userId, batch);
        }
        batch.waiting.push({ instanceId, resolve, reject });
        if (batch.waiting.length >= STATUS_IDS_PER_CALL) flush(userId);
      });
    },
  };
}
