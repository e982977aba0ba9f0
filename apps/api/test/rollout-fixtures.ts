/**
 * The fixtures of the report, progress and retry tests (rollout-report-api, rollout-progress-api,
 * rollout-retry-api): rollouts written straight to Postgres in the states those routes read.
 */
import { expect } from 'vitest';
import { failInstallVerification, insertRollout, raiseMissingManualInstallFlags } from '@fleet/db';
import { instanceIds } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { USER_ID } from './support.ts';

/** CloudMonitor's message for an instance without the Server Guard agent. */
export const NO_GUARD = (id: string) =>
  `The Server Guard (Aegis) agent is not installed or not online on instance ${id}, ` +
  'so the CloudMonitor agent cannot be installed remotely. Log on to the instance and install the CloudMonitor agent manually.';

/** A rollout of `ids` in `status` (default completed), every instance succeeded an hour ago (1 attempt). */
export async function newRollout(
  api: ApiHarness,
  ids: string[],
  status: 'running' | 'completed' | 'cancelled' = 'completed',
) {
  const { rollout } = await insertRollout(api.db, {
    userId: USER_ID,
    force: true,
    concurrency: 7,
    maxAttempts: 3,
    policy: { concurrency: 7, retry: { maxAttempts: 3, baseDelayMs: 1000, maxDelayMs: 60000 } },
    instanceIds: ids,
  });
  await api.db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id },
    data: { state: 'succeeded', attemptCount: 1, finishedAt: new Date(Date.now() - 3_600_000), lastRequestId: 'R-ok' },
  });
  await api.db.prisma.rollout.update({
    where: { id: rollout.id },
    data: { status, enqueuedAt: new Date(), ...(status === 'running' ? {} : { finishedAt: new Date() }) },
  });
  return rollout.id;
}

/** Fails `instanceId` as a final install answer `f` leaves it, flagged for a manual install with `f.reason`. */
export async function failInstall(
  api: ApiHarness,
  rolloutId: string,
  instanceId: string,
  f: {
    code: string;
    message: string;
    reason: string;
    requestId: string;
    attempts?: number;
    httpStatus?: number;
    outcome?: string;
  },
) {
  await api.db.prisma.rolloutInstance.update({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
    data: {
      state: 'failed',
      attemptCount: f.attempts ?? 1,
      lastErrorCode: f.code,
      lastErrorMessage: f.message,
      lastRequestId: f.requestId,
      lastHttpStatus: f.httpStatus ?? 200,
      lastOutcome: f.outcome ?? 'final',
      needsManualInstall: true,
      manualInstallReason: f.reason,
    },
  });
}

/** Fails the verification of `instanceId`: the agent reported `agentStatus` after a successful install. */
export async function failVerification(
  api: ApiHarness,
  rolloutId: string,
  instanceId: string,
  agentStatus: 'install_faild' | 'not_installed',
) {
  const row = await api.db.prisma.rolloutInstance.update({
    where: { rolloutId_instanceId: { rolloutId, instanceId } },
    data: { verification: 'pending', verifyDeadlineAt: new Date() },
  });
  const outcome = await failInstallVerification(api.db, {
    rolloutInstanceId: row.id,
    reason: agentStatus === 'install_faild' ? 'install_failed_on_host' : 'agent_not_running',
    agentStatus,
    detail: `NodeStatus reports ${agentStatus}`,
  });
  expect(outcome.kind).toBe('flagged');
}

/** A finished rollout with three causes: no Server Guard (3), instance not found (2), agent install_faild (2). */
export async function rolloutWithFailures(api: ApiHarness, label: string) {
  const ids = instanceIds(12, `i-${label}`);
  const rolloutId = await newRollout(api, ids);
  for (const [i, id] of ids.slice(0, 3).entries())
    await failInstall(api, rolloutId, id, {
      code: '400',
      message: NO_GUARD(id),
      reason: 'no_server_guard_agent',
      requestId: `R-guard-${i}`,
      attempts: 1,
    });
  for (const [i, id] of ids.slice(3, 5).entries()) {
    await failInstall(api, rolloutId, id, {
      code: 'InvalidInstanceId.NotFound',
      message: `The specified instance ${id} does not exist.`,
      reason: 'instance_not_found',
      requestId: `R-nf-${i}`,
      httpStatus: 404,
    });
  }
  for (const id of ids.slice(5, 7)) await failVerification(api, rolloutId, id, 'install_faild');
  await raiseMissingManualInstallFlags(api.db, rolloutId);
  return { rolloutId, ids };
}
