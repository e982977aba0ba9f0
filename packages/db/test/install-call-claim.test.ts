import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestDatabase } from './support.ts';
import { claimInstallCall, findInstanceWithAttempts, finishAttempt, insertRollout } from '../src/index.ts';
import type { Database, InstallCallInput } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 10 }, (opened) => (db = opened));

const USER = '1234567898765432';

async function newRollout(count: number, options: { concurrency: number; waveSizes?: number[] }) {
  const { rollout, instances } = await insertRollout(db, {
    userId: USER,
    force: false,
    concurrency: options.concurrency,
    maxAttempts: 3,
    policy: { driver: 'install-monitoring-agent' },
    instanceIds: Array.from({ length: count }, (_, i) => `i-cl${String(i).padStart(3, '0')}`),
    ...(options.waveSizes ? { waveSizes: options.waveSizes } : {}),
  });
  return { rolloutId: rollout.id, instances };
}

function input(rolloutId: string, rolloutInstanceId: bigint, over: Partial<InstallCallInput> = {}): InstallCallInput {
  const now = new Date();
  return {
    rolloutInstanceId,
    rolloutId,
    workerId: 'w1',
    callId: randomUUID(),
    signatureNonce: randomUUID(),
    credentialsId: null,
    maxInstances: 10,
    staleAfterMs: 60_000,
    instanceTimeoutMs: null,
    skipInstalled: false,
    now,
    windowNow: now,
    ...over,
  };
}

describe('claimInstallCall', () => {
  it('claims the leader and up to 9 more pending instances, each an attempt row of the one call, before the call', async () => {
    const { rolloutId, instances } = await newRollout(14, { concurrency: 50 });
    const leader = instances[5]!;
    const claim = await claimInstallCall(db, input(rolloutId, leader.id));
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(claim.members).toHaveLength(10);
    expect(claim.members[0]!.rolloutInstanceId).toBe(leader.id);
    const rows = await db.prisma.installAttempt.findMany({ where: { rolloutId } });
    expect(rows).toHaveLength(10);
    expect(new Set(rows.map((r) => r.callId))).toEqual(new Set([claim.callId]));
    expect(new Set(rows.map((r) => r.signatureNonce))).toEqual(new Set([claim.signing.nonce]));
    expect(rows.every((r) => r.finishedAt === null && r.attemptNo === 1)).toBe(true);
    expect(await db.prisma.rolloutInstance.count({ where: { rolloutId, state: 'in_progress' } })).toBe(10);

    // The attempt as the API shows it names every instance of its call, in the order the call sent them.
    const detail = await findInstanceWithAttempts(db, rolloutId, leader.instanceId);
    expect(detail!.attempts[0]!.callInstanceIds).toEqual(claim.members.map((m) => m.instanceId).sort());

    // A job whose instance that call took finds it in flight; the next call takes the four left.
    const member = claim.members[3]!;
    expect(await claimInstallCall(db, input(rolloutId, member.rolloutInstanceId))).toMatchObject({ kind: 'busy' });
    const rest = instances.find((i) => !claim.members.some((m) => m.rolloutInstanceId === i.id))!;
    const second = await claimInstallCall(db, input(rolloutId, rest.id));
    expect(second).toMatchObject({ kind: 'claimed' });
    expect(second.kind === 'claimed' && second.members.length).toBe(4);
  });

  it('claims no more instances than the rollout concurrency leaves free, and none when it is used up', async () => {
    const { rolloutId, instances } = await newRollout(30, { concurrency: 13 });
    const first = await claimInstallCall(db, input(rolloutId, instances[0]!.id));
    expect(first.kind === 'claimed' && first.members.length).toBe(10);
    const second = await claimInstallCall(db, input(rolloutId, instances[1]!.id));
    expect(second.kind === 'claimed' && second.members.length).toBe(3);
    expect(await claimInstallCall(db, input(rolloutId, instances[2]!.id))).toEqual({ kind: 'full' });
    // A call's answers free its instances' slots.
    if (first.kind !== 'claimed') throw new Error(first.kind);
    for (const m of first.members.slice(0, 4)) {
      await finishAttempt(db, {
        rolloutInstanceId: m.rolloutInstanceId,
        attemptId: m.attemptId,
        attemptNo: m.attemptNo,
        maxAttempts: 3,
        nextAttemptAt: null,
        answer: {
          finishedAt: new Date(),
          durationMs: 5,
          httpStatus: 200,
          success: true,
          errorCode: '200',
          errorMessage: null,
          requestId: 'R-1',
          outcome: 'success',
          outcomeKind: 'success',
        },
      });
    }
    const third = await claimInstallCall(db, input(rolloutId, instances[2]!.id));
    expect(third.kind === 'claimed' && third.members.length).toBe(4);
  });

  it('takes only instances of the waves allowed to run whose retry is due; a leader not due waits', async () => {
    const { rolloutId, instances } = await newRollout(12, { concurrency: 50, waveSizes: [6, 6] });
    const later = new Date(Date.now() + 60_000);
    await db.prisma.rolloutInstance.updateMany({
      where: { id: { in: [instances[1]!.id, instances[2]!.id] } },
      data: { nextAttemptAt: later },
    });
    expect(await claimInstallCall(db, input(rolloutId, instances[1]!.id))).toEqual({ kind: 'not_due', at: later });
    const claim = await claimInstallCall(db, input(rolloutId, instances[0]!.id));
    if (claim.kind !== 'claimed') throw new Error(claim.kind);
    expect(claim.members.map((m) => m.instanceId).sort()).toEqual(
      [0, 3, 4, 5].map((i) => instances[i]!.instanceId).sort(),
    );
  });

  it("replays a dead worker's call for all its instances once, and the others' jobs then find it busy", async () => {
    const { rolloutId, instances } = await newRollout(3, { concurrency: 10 });
    const past = new Date(Date.now() - 10_000);
    const dead = await claimInstallCall(db, input(rolloutId, instances[1]!.id, { now: past, windowNow: past }));
    if (dead.kind !== 'claimed') throw new Error(dead.kind);
    const replay = await claimInstallCall(
      db,
      input(rolloutId, instances[2]!.id, { workerId: 'w2', staleAfterMs: 5000 }),
    );
    if (replay.kind !== 'replay') throw new Error(replay.kind);
    expect(replay.callId).toBe(dead.callId);
    expect(replay.signing).toEqual(dead.signing);
    expect(replay.instanceIds).toEqual(instances.map((i) => i.instanceId).sort());
    expect(replay.members.map((m) => m.attemptId).sort()).toEqual(dead.members.map((m) => m.attemptId).sort());
    const rows = await db.prisma.installAttempt.findMany({ where: { rolloutId } });
    expect(rows).toHaveLength(3);
    expect(rows.every((r) => r.replayedBy === 'w2')).toBe(true);
    expect(
      await claimInstallCall(db, input(rolloutId, instances[0]!.id, { workerId: 'w3', staleAfterMs: 5000 })),
    ).toMatchObject({ kind: 'busy' });
  });
});
