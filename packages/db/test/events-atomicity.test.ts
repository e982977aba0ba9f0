/**
 * Issue 16's "both or neither" (event-breakage.ts) for the rollout and manual-install flag events that events.test.ts
 * does not already cover: it does an operator's rollout.paused, rollout.cancelled and rollout.completed, and a writer
 * killed while its change waits for the events' lock. API keys, webhooks and accounts: events-atomicity-admin.test.ts.
 */
import type { EventSource } from '@fleet/rollout-domain';
import { describeBothOrNeither } from './event-breakage.ts';
import type { AtomicityCase } from './event-breakage.ts';
import { useTestDatabase } from './support.ts';
import {
  advanceWaveIfDone,
  failInstallVerification,
  insertRollout,
  raiseMissingManualInstallFlags,
  recordRollout,
  transitionManualInstallFlag,
  transitionRollout,
  updateRolloutPolicy,
} from '../src/index.ts';
import type { Database, NewRollout } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 4 }, (opened) => (db = opened));

const USER = '1234567898765432';
const OPERATOR: EventSource = {
  actor: { kind: 'api_key', id: '00000000-0000-4000-8000-00000000000b', name: 'on-call' },
  requestId: 'req-atomic',
};
const WORKER: EventSource = { actor: { kind: 'worker', id: 'worker-1' } };
const RECONCILER: EventSource = { actor: { kind: 'reconciler', id: 'reconciler-1' } };
const WINDOW = new Date('2026-12-03T02:00:00.000Z');

const rolloutOf = (instanceIds: string[], more: Partial<NewRollout> = {}) =>
  insertRollout(db, { userId: USER, force: false, concurrency: 2, maxAttempts: 1, policy: {}, instanceIds, ...more });

const rolloutRow = (id: string) => db.prisma.rollout.findUniqueOrThrow({ where: { id } });
const statusAndWindow = async (id: string) => {
  const { status, nextWindowAt } = await rolloutRow(id);
  return { status, nextWindowAt };
};
const instanceStates = async (rolloutId: string) =>
  (await db.prisma.rolloutInstance.findMany({ where: { rolloutId }, orderBy: { id: 'asc' } })).map((i) => i.state);

/** A rollout of two waves of one instance each, its first wave ended `finalState`. */
async function firstWaveEnded(finalState: 'succeeded' | 'failed') {
  const { rollout } = await rolloutOf([`i-w1-${finalState}`, `i-w2-${finalState}`], { waveSizes: [1, 1] });
  await db.pool.query(
    `UPDATE rollout_instance SET state = $2::"InstanceState", finished_at = now() WHERE rollout_id = $1::uuid AND wave_no = 1`,
    [rollout.id, finalState],
  );
  return rollout;
}

/** A rollout whose one instance failed and needs a manual install (the worker's doing), and nothing raised yet. */
async function failedNeedingManualInstall(instanceId: string) {
  const { rollout, instances } = await rolloutOf([instanceId]);
  await db.prisma.rolloutInstance.updateMany({
    where: { rolloutId: rollout.id },
    data: { state: 'failed', finishedAt: new Date(), needsManualInstall: true, manualInstallReason: 'rejected' },
  });
  return { rollout, instance: instances[0]! };
}

/** The open flag the reconciler raised for a failed install of `instanceId`. */
async function openFlag(instanceId: string) {
  const { rollout, instance } = await failedNeedingManualInstall(instanceId);
  await raiseMissingManualInstallFlags(db, rollout.id, new Date(), RECONCILER);
  const flag = await db.prisma.manualInstallFlag.findFirstOrThrow({ where: { rolloutId: rollout.id } });
  return { rollout, instance, flag };
}

const flagState = async (flagId: bigint) => {
  const flag = await db.prisma.manualInstallFlag.findUniqueOrThrow({ where: { id: flagId } });
  const instance = await db.prisma.rolloutInstance.findUniqueOrThrow({ where: { id: flag.rolloutInstanceId } });
  return { status: flag.status, verification: instance.verification };
};

const moveFlag = (flagId: bigint, type: 'acknowledge' | 'resolve' | 'close') =>
  transitionManualInstallFlag(db, { flagId, event: { type }, actor: 'on-call', by: OPERATOR });

const CASES: AtomicityCase[] = [
  {
    type: 'rollout.created',
    via: 'POST /v1/rollouts: recordRollout',
    arrange: async (tag) => {
      const userId = `created-${tag}`;
      const base = { userId, force: false, concurrency: 2, maxAttempts: 1, policy: {}, by: OPERATOR };
      return {
        change: () => recordRollout(db, { ...base, instanceIds: ['i-c1', 'i-c2'] }),
        state: async () => ({
          rollouts: await db.prisma.rollout.count({ where: { userId } }),
          instances: await db.prisma.rolloutInstance.count({ where: { rollout: { userId } } }),
        }),
      };
    },
    before: { rollouts: 0, instances: 0 },
    after: { rollouts: 1, instances: 2 },
  },
  {
    type: 'rollout.scheduled',
    via: 'POST /v1/rollouts with a schedule: recordRollout',
    arrange: async (tag) => {
      const userId = `scheduled-${tag}`;
      const base = { userId, force: false, concurrency: 2, maxAttempts: 1, policy: {}, by: OPERATOR };
      return {
        change: () => recordRollout(db, { ...base, instanceIds: ['i-s1'], status: 'scheduled', nextWindowAt: WINDOW }),
        state: async () => (await db.prisma.rollout.findMany({ where: { userId } })).map((r) => r.status),
      };
    },
    before: [],
    after: ['scheduled'],
    written: ['rollout.created', 'rollout.scheduled'],
  },
  {
    type: 'rollout.retried',
    via: 'POST /v1/rollouts/:id/retry: recordRollout with the parent',
    arrange: async () => {
      const { rollout: parent } = await rolloutOf(['i-parent']);
      const retry = { userId: USER, force: false, concurrency: 2, maxAttempts: 1, policy: {}, by: OPERATOR };
      return {
        change: () => recordRollout(db, { ...retry, instanceIds: ['i-parent'], parentRolloutId: parent.id }),
        state: () => db.prisma.rollout.count({ where: { parentRolloutId: parent.id } }),
      };
    },
    before: 0,
    after: 1,
    written: ['rollout.created', 'rollout.retried'],
  },
  {
    type: 'rollout.wave_started',
    via: 'worker after a final instance, reconciler: advanceWaves, advanceWaveIfDone',
    arrange: async () => {
      const rollout = await firstWaveEnded('succeeded');
      return {
        change: () => advanceWaveIfDone(db, rollout.id, { thresholdPercent: 50, by: WORKER }),
        state: async () => (await rolloutRow(rollout.id)).currentWave,
      };
    },
    before: 1,
    after: 2,
  },
  {
    type: 'rollout.paused',
    via: 'at a wave gate, worker and reconciler: advanceWaves, advanceWaveIfDone',
    arrange: async () => {
      const rollout = await firstWaveEnded('failed');
      return {
        change: () => advanceWaveIfDone(db, rollout.id, { thresholdPercent: 100, by: WORKER }),
        state: async () => (await rolloutRow(rollout.id)).status,
      };
    },
    before: 'running',
    after: 'paused',
  },
  {
    type: 'rollout.resumed',
    via: 'POST /v1/rollouts/:id/resume: resumeRollout, transitionRollout',
    arrange: async () => {
      const { rollout } = await rolloutOf(['i-resume']);
      await transitionRollout(db, rollout.id, { type: 'pause', reason: 'x' }, { by: OPERATOR });
      return {
        change: () => transitionRollout(db, rollout.id, { type: 'resume' }, { by: OPERATOR }),
        state: async () => (await rolloutRow(rollout.id)).status,
      };
    },
    before: 'paused',
    after: 'running',
  },
  {
    type: 'rollout.policy_changed',
    via: 'PATCH /v1/rollouts/:id: changeRolloutPolicy, updateRolloutPolicy',
    arrange: async () => {
      const { rollout } = await rolloutOf(['i-policy']);
      const policy = { concurrency: 5, retry: { maxAttempts: 3 } };
      return {
        change: () => updateRolloutPolicy(db, rollout.id, { policy, concurrency: 5, maxAttempts: 3 }, OPERATOR),
        state: async () => {
          const { concurrency, maxAttempts, policy } = await rolloutRow(rollout.id);
          return { concurrency, maxAttempts, policy };
        },
      };
    },
    before: { concurrency: 2, maxAttempts: 1, policy: {} },
    after: { concurrency: 5, maxAttempts: 3, policy: { concurrency: 5, retry: { maxAttempts: 3 } } },
  },
  {
    type: 'rollout.aborted',
    via: 'worker: abortIfThresholdCrossed, cancelRollout, transitionRollout (aborted)',
    arrange: async () => {
      const { rollout } = await rolloutOf(['i-abort']);
      return {
        change: () => transitionRollout(db, rollout.id, { type: 'cancel', reason: 'x' }, { by: WORKER, aborted: true }),
        state: async () => ({
          status: (await rolloutRow(rollout.id)).status,
          instances: await instanceStates(rollout.id),
        }),
      };
    },
    before: { status: 'running', instances: ['pending'] },
    after: { status: 'cancelled', instances: ['cancelled'] },
  },
  {
    type: 'rollout.started',
    via: 'reconciler applySchedules, POST /v1/rollouts/:id/start-now: transitionRollout (start)',
    arrange: async () => {
      const { rollout } = await rolloutOf(['i-start'], { status: 'scheduled', nextWindowAt: WINDOW });
      const schedule = { callsUntil: null, nextWindowAt: null, startCause: 'schedule' as const };
      return {
        change: () => transitionRollout(db, rollout.id, { type: 'start' }, { by: RECONCILER, schedule }),
        state: () => statusAndWindow(rollout.id),
      };
    },
    before: { status: 'scheduled', nextWindowAt: WINDOW },
    after: { status: 'running', nextWindowAt: null },
  },
  {
    type: 'rollout.window_waiting',
    via: 'reconciler applySchedules: transitionRollout (wait_for_window)',
    arrange: async () => {
      const { rollout } = await rolloutOf(['i-wait']);
      const schedule = { callsUntil: null, nextWindowAt: WINDOW };
      return {
        change: () => transitionRollout(db, rollout.id, { type: 'wait_for_window' }, { by: RECONCILER, schedule }),
        state: () => statusAndWindow(rollout.id),
      };
    },
    before: { status: 'running', nextWindowAt: null },
    after: { status: 'waiting_for_window', nextWindowAt: WINDOW },
  },
  {
    type: 'instance.flagged',
    via: "reconciler's sweep: raiseMissingManualInstallFlags",
    arrange: async (tag) => {
      const { rollout } = await failedNeedingManualInstall(`i-flagged-${tag}`);
      return {
        change: () => raiseMissingManualInstallFlags(db, rollout.id, new Date(), RECONCILER),
        state: async () => ({
          flags: await db.prisma.manualInstallFlag.count({ where: { rolloutId: rollout.id } }),
          occurrences: await db.prisma.manualInstallFlagOccurrence.count({ where: { rolloutId: rollout.id } }),
        }),
      };
    },
    before: { flags: 0, occurrences: 0 },
    after: { flags: 1, occurrences: 1 },
  },
  ...(['acknowledge', 'resolve', 'close'] as const).map((move, i): AtomicityCase => ({
    type: ['flag.acknowledged', 'flag.resolved', 'flag.closed'][i]!,
    via: `POST /v1/manual-install-flags/:id/${move}: transitionManualInstallFlag`,
    arrange: async (tag) => {
      const { flag } = await openFlag(`i-${move}-${tag}`);
      return { change: () => moveFlag(flag.id, move), state: () => flagState(flag.id) };
    },
    before: { status: 'open', verification: null },
    // Resolving also asks the reconciler to verify the host again.
    after: { status: ['acknowledged', 'resolved', 'closed'][i], verification: move === 'resolve' ? 'pending' : null },
  })),
  {
    type: 'flag.reopened',
    via: "reconciler's install verifier, a resolved flag's re-verification failed: failInstallVerification",
    arrange: async (tag) => {
      const { instance, flag } = await openFlag(`i-reverify-${tag}`);
      await moveFlag(flag.id, 'resolve');
      const failed = { rolloutInstanceId: instance.id, reason: 'agent_not_running', agentStatus: 'stopped' } as const;
      return {
        change: () => failInstallVerification(db, { ...failed, detail: 'the agent is stopped' }),
        state: () => flagState(flag.id),
      };
    },
    before: { status: 'resolved', verification: 'pending' },
    after: { status: 'open', verification: 'failed' },
  },
  {
    type: 'flag.reopened',
    via: "reconciler's sweep, a later rollout fails on the host of a resolved flag: raiseMissingManualInstallFlags",
    arrange: async (tag) => {
      const { flag } = await openFlag(`i-again-${tag}`);
      await moveFlag(flag.id, 'resolve');
      const { rollout: later } = await failedNeedingManualInstall(`i-again-${tag}`);
      return {
        change: () => raiseMissingManualInstallFlags(db, later.id, new Date(), RECONCILER),
        state: async () => ({
          status: (await flagState(flag.id)).status,
          occurrences: await db.prisma.manualInstallFlagOccurrence.count({ where: { rolloutId: later.id } }),
        }),
      };
    },
    before: { status: 'resolved', occurrences: 0 },
    after: { status: 'open', occurrences: 1 },
  },
];

describeBothOrNeither(() => db, CASES);
