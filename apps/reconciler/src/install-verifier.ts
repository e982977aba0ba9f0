import type { AccountClients } from '@fleet/accounts';
import { assertNever } from '@fleet/errors';
import type { CmsClient, NodeStatusListChunkResult } from '@fleet/cms-client';
import { AGENT_STATUS_IDS_PER_CALL, callAgentStatus } from '@fleet/cms-client';
import type { Database, PendingVerification } from '@fleet/db';
import {
  armInstallVerification,
  armReverification,
  failInstallVerification,
  listPendingVerifications,
  markInstancesVerified,
  recordAgentStatuses,
} from '@fleet/db';
import type { AccountRateLimiter } from '@fleet/limits';
import type { Logger } from '@fleet/logger';
import type { AgentLookup, InstallDriver, VerificationFailureReason } from '@fleet/rollout-domain';
import { agentStatusActionOf, decideVerification } from '@fleet/rollout-domain';
import { LeaseLostError } from './leader-lease.ts';

/**
 * Install verification: after the install call succeeded, the agent must report `running` within the window.
 * The reconciler arms the window on succeeded instances, asks about every instance still pending, per account and
 * driver, in calls of 50 ids made one after another (NodeStatusList for driver node-install,
 * DescribeMonitoringAgentStatuses for install-monitoring-agent), and persists what `decideVerification`
 * (packages/rollout-domain) decides: verified; failed, with `needs_manual_install` and a manual-install flag (a
 * host without Cloud Assistant: `cloud_assistant_missing`); or wait for the next pass.
 *
 * Each status call takes its start on the account's rate schedule in Redis, the one the workers' install calls and
 * the API's pre-check keep (@fleet/limits): CloudMonitor throttles an account's calls of every action together, so a
 * sweep of thousands of instances shares the account's quota with a running rollout instead of adding to it.
 */
export type InstallVerifierDeps = {
  db: Database;
  /** The reconciler's own client (CMS_ENDPOINT, CMS_ACCESS_KEY_*) for every account when `accounts` is not given. */
  cms: CmsClient;
  /** Each account's own client (its credentials and endpoint, see @fleet/accounts). Default: `cms` for every account. */
  accounts?: Pick<AccountClients, 'current'>;
  logger: Logger;
  /** How long the agent has to report running after NodeInstall succeeded (or after an operator resolved), ms. */
  verifyWindowMs: number;
  /** Most instances checked per pass, earliest deadline first. */
  batchSize: number;
  /**
   * The accounts' rate schedules (the workers' ACCOUNT_RATE_* and each account's own limits): every status call
   * reserves its start on its account's schedule and waits for it.
   */
  accountRate: AccountRateLimiter;
  /** Called before each status call: throws LeaseLostError when this replica is no longer the leader. Default none. */
  stayLeader?: () => Promise<void>;
  /** Waits for a call's reserved start, ms. Default setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  now: () => Date;
};

export type VerificationReport = {
  /** Succeeded installs put up for verification. */
  armed: number;
  /** Re-verifications an operator asked for (resolved flags), whose window started. */
  rearmed: number;
  checked: number;
  verified: number;
  /** Resolved flags whose agent was then seen running. */
  reverified: number;
  /** Verifications that failed and raised a manual-install flag. */
  flagged: number;
  /** Verifications that failed on a host whose open or acknowledged flag (from another rollout) got the failure too. */
  reflagged: number;
  /** Resolved flags reopened: the agent is still not running. */
  reopened: number;
  waiting: number;
  /** Instances whose status call failed transiently; looked at again next pass. */
  lookupErrors: number;
};

export function emptyVerificationReport(): VerificationReport {
  return {
    armed: 0,
    rearmed: 0,
    checked: 0,
    verified: 0,
    reverified: 0,
    flagged: 0,
    reflagged: 0,
    reopened: 0,
    waiting: 0,
    lookupErrors: 0,
  };
}

/** Instance ids named in one log line; the counts are always complete. */
const LOGGED_IDS = 20;

/** What a successful chunk reported per instance: the normalised status and AutoInstall. */
type Reported = { agentStatus: string; autoInstall: boolean | null };

function lookupOf(
  instanceId: string,
  reported: Map<string, Reported>,
  chunkOf: Map<string, NodeStatusListChunkResult>,
): AgentLookup {
  const report = reported.get(instanceId);
  if (report !== undefined) return { kind: 'reported', ...report };
  const chunk = chunkOf.get(instanceId);
  if (!chunk || chunk.outcome.kind === 'success') return { kind: 'absent' };
  if (chunk.outcome.kind === 'final' || chunk.outcome.kind === 'fleet_wide') {
    return {
      kind: 'permanent_error',
      outcomeKind: chunk.outcome.kind,
      errorCode: chunk.errorCode,
      errorMessage: chunk.errorMessage,
      httpStatus: chunk.httpStatus,
    };
  }
  return { kind: 'transient_error', detail: chunk.outcome.reason };
}

/**
 * The account's pending instances asked about, AGENT_STATUS_IDS_PER_CALL a call, one call after another, each at its start
 * on the account's rate schedule; a throttled answer slows the schedule (its instances are looked at next pass).
 */
async function askStatuses(
  deps: InstallVerifierDeps,
  call: { userId: string; cms: CmsClient; driver: InstallDriver },
  instanceIds: string[],
): Promise<NodeStatusListChunkResult[]> {
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const chunks: NodeStatusListChunkResult[] = [];
  for (let at = 0; at < instanceIds.length; at += AGENT_STATUS_IDS_PER_CALL) {
    await deps.stayLeader?.();
    const waitMs = await deps.accountRate.reserve(call.userId);
    if (waitMs > 0) await sleep(waitMs);
    const chunk = await callAgentStatus(
      call.cms,
      agentStatusActionOf(call.driver),
      instanceIds.slice(at, at + AGENT_STATUS_IDS_PER_CALL),
    );
    chunks.push(chunk);
    if (chunk.outcome.kind === 'throttled') await deps.accountRate.onThrottled(call.userId);
  }
  return chunks;
}

async function verifyAccount(
  deps: InstallVerifierDeps,
  userId: string,
  driver: InstallDriver,
  pending: PendingVerification[],
  report: VerificationReport,
): Promise<void> {
  // An account that cannot be called (AccountUnusableError) throws here: its instances wait for the next pass.
  const cms = deps.accounts ? (await deps.accounts.current(userId)).cms : deps.cms;
  const statusAction = agentStatusActionOf(driver);
  const chunks = await askStatuses(
    deps,
    { userId, cms, driver },
    pending.map((p) => p.instanceId),
  );
  const chunkOf = new Map<string, NodeStatusListChunkResult>();
  const reported = new Map<string, Reported>();
  for (const chunk of chunks) {
    for (const id of chunk.instanceIds) chunkOf.set(id, chunk);
    for (const node of chunk.nodes)
      if (chunkOf.get(node.instanceId) === chunk)
        reported.set(node.instanceId, { agentStatus: node.status, autoInstall: node.autoInstall });
  }
  const failedChunks = chunks.filter((c) => c.outcome.kind !== 'success');
  if (failedChunks.length > 0) {
    deps.logger.warn(`${statusAction} failed for some instances; they are looked at again next pass`, {
      userId,
      chunks: failedChunks.length,
      errors: failedChunks
        .slice(0, 3)
        .map((c) => ({ errorCode: c.errorCode, outcome: c.outcome, requestId: c.requestId })),
    });
  }

  const now = deps.now();
  const verified: bigint[] = [];
  const seen: { id: bigint; agentStatus: string }[] = [];
  const failures: {
    instance: PendingVerification;
    reason: VerificationFailureReason;
    agentStatus: string | null;
    detail: string;
  }[] = [];
  for (const instance of pending) {
    const lookup = lookupOf(instance.instanceId, reported, chunkOf);
    if (lookup.kind === 'transient_error') report.lookupErrors++;
    const decision = decideVerification(lookup, { now, deadline: instance.deadline, driver });
    switch (decision.type) {
      case 'verified':
        verified.push(instance.id);
        break;
      case 'wait':
        report.waiting++;
        if (decision.agentStatus !== null) seen.push({ id: instance.id, agentStatus: decision.agentStatus });
        break;
      case 'failed':
        failures.push({
          instance,
          reason: decision.reason,
          agentStatus: decision.agentStatus,
          detail: decision.detail,
        });
        break;
    }
  }

  const marked = await markInstancesVerified(deps.db, verified, now);
  report.verified += marked.verified;
  report.reverified += marked.reverified;
  await recordAgentStatuses(deps.db, seen);

  const byRollout = new Map<
    string,
    { flagged: string[]; reflagged: string[]; reopened: string[]; reasons: Record<string, number> }
  >();
  for (const failure of failures) {
    const outcome = await failInstallVerification(deps.db, {
      rolloutInstanceId: failure.instance.id,
      reason: failure.reason,
      agentStatus: failure.agentStatus,
      detail: failure.detail,
      now,
    });
    if (outcome.kind === 'stale') continue;
    const entry = byRollout.get(failure.instance.rolloutId) ?? {
      flagged: [],
      reflagged: [],
      reopened: [],
      reasons: {},
    };
    byRollout.set(failure.instance.rolloutId, entry);
    entry.reasons[failure.reason] = (entry.reasons[failure.reason] ?? 0) + 1;
    switch (outcome.kind) {
      case 'flagged':
      case 'reflagged':
      case 'reopened':
        report[outcome.kind]++;
        entry[outcome.kind].push(failure.instance.instanceId);
        break;
      case 'recorded':
        break;
      default:
        assertNever(outcome, 'verification failure outcome');
    }
  }
  for (const [rolloutId, entry] of byRollout) {
    deps.logger.warn('verification failed: instances flagged for manual installation', {
      rolloutId,
      userId,
      driver,
      flagged: entry.flagged.length,
      reflagged: entry.reflagged.length,
      reopened: entry.reopened.length,
      reasons: entry.reasons,
      instanceIds: [...entry.flagged, ...entry.reflagged, ...entry.reopened].slice(0, LOGGED_IDS),
    });
  }
  if (marked.reverified > 0)
    deps.logger.info('manually installed agents re-verified running', { userId, reverified: marked.reverified });
}

/** Puts the rollout's succeeded, never-verified instances up for verification. Returns how many. */
export async function armRolloutVerification(
  deps: Pick<InstallVerifierDeps, 'db' | 'verifyWindowMs'>,
  rolloutId: string,
): Promise<number> {
  return armInstallVerification(deps.db, rolloutId, deps.verifyWindowMs);
}

/** One verification pass over every pending verification (arming is per rollout: armRolloutVerification). */
export async function verifyInstalls(deps: InstallVerifierDeps): Promise<VerificationReport> {
  const report = emptyVerificationReport();
  report.rearmed = await armReverification(deps.db, deps.verifyWindowMs, deps.now());
  const pending = await listPendingVerifications(deps.db, { limit: deps.batchSize });
  report.checked = pending.length;
  // Per account (its credentials and endpoint) and driver (its status call).
  const groups = new Map<string, { userId: string; driver: InstallDriver; instances: PendingVerification[] }>();
  for (const instance of pending) {
    const key = `${instance.userId}\u0000${instance.driver}`;
    const group = groups.get(key) ?? { userId: instance.userId, driver: instance.driver, instances: [] };
    groups.set(key, group);
    group.instances.push(instance);
  }
  for (const { userId, driver, instances } of groups.values()) {
    try {
      await verifyAccount(deps, userId, driver, instances, report);
    } catch (error) {
      if (error instanceof LeaseLostError) throw error;
      deps.logger.warn('verifying installs of an account failed; will retry next pass', {
        userId,
        driver,
        instances: instances.length,
        error,
      });
    }
  }
  return report;
}
