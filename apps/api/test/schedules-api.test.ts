import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listEvents } from '@fleet/db';
import { rolloutSchema } from '../src/response-schemas.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const inOneHour = () => new Date(Date.now() + 3_600_000).toISOString();
const nightly = { cron: '0 2 * * *', durationMinutes: 60, timezone: 'Europe/Berlin' };

async function eventTypes(rolloutId: string): Promise<string[]> {
  return (await listEvents(api.db, { rolloutId, limit: 100 })).events.map((e) => e.type);
}

describe('schedules', () => {
  it('records a rollout with a future startAt as scheduled, with nextWindowAt and rollout.scheduled', async () => {
    const startAt = inOneHour();
    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-sch1', 'i-sch2'],
      schedule: { startAt, endAt: new Date(Date.now() + 7_200_000).toISOString(), endBehavior: 'cancel' },
    });
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ status: 'scheduled', nextWindowAt: startAt, callsUntil: null });
    expect(res.body.policy.schedule).toMatchObject({ startAt, endBehavior: 'cancel', maintenanceWindows: [] });
    const got = await api.request('GET', `/v1/rollouts/${res.body.id}`);
    expect(rolloutSchema.safeParse(got.body).success).toBe(true);
    expect(got.body.status).toBe('scheduled');
    // GET reads the rollout by its own statement (findRollout), which showed nextWindowAt null before it read it.
    expect(got.body).toMatchObject({ nextWindowAt: startAt, callsUntil: null });
    expect(await eventTypes(res.body.id)).toEqual(['rollout.created', 'rollout.scheduled']);
  });

  it('starts a scheduled rollout with start-now, once, with rollout.started (cause start_now)', async () => {
    const created = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-now1'],
      schedule: { maintenanceWindows: [nightly], cutoffMinutes: 10 },
    });
    expect(created.body.status).toBe('scheduled');
    const started = await api.request('POST', `/v1/rollouts/${created.body.id}/start-now`);
    expect(started.status).toBe(200);
    expect(started.body).toMatchObject({ status: 'running', changed: true });
    // Until the end of the next window less its cutoff: 50 minutes after some 01:00 UTC (02:00 in Berlin, winter).
    expect(started.body.callsUntil).toMatch(/T01:50:00\.000Z$/);
    const again = await api.request('POST', `/v1/rollouts/${created.body.id}/start-now`);
    expect(again.body).toMatchObject({ status: 'running', changed: false });
    const { events } = await listEvents(api.db, { rolloutId: created.body.id, limit: 100 });
    expect(events.find((e) => e.type === 'rollout.started')?.data).toMatchObject({
      from: 'scheduled',
      cause: 'start_now',
    });
  });

  it("start-now keeps the operator's reason as statusReason and in rollout.started's data", async () => {
    const created = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-nowreason1'],
      schedule: { maintenanceWindows: [nightly], cutoffMinutes: 10 },
    });
    const started = await api.request('POST', `/v1/rollouts/${created.body.id}/start-now`, {
      reason: 'hotfix, cannot wait for the window',
    });
    expect(started.body).toMatchObject({ status: 'running', statusReason: 'hotfix, cannot wait for the window' });
    const { events } = await listEvents(api.db, { rolloutId: created.body.id, type: 'rollout.started', limit: 10 });
    expect(events.map((e) => e.data)).toEqual([
      expect.objectContaining({ cause: 'start_now', reason: 'hotfix, cannot wait for the window' }),
    ]);
  });

  it('changes the schedule of an open rollout with PATCH (rollout.policy_changed), and removes it with null', async () => {
    const created = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-pat1'],
      schedule: { startAt: inOneHour() },
    });
    const patched = await api.request('PATCH', `/v1/rollouts/${created.body.id}`, {
      schedule: { maintenanceWindows: [nightly] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.policy.schedule).toMatchObject({ startAt: null, maintenanceWindows: [nightly] });
    const removed = await api.request('PATCH', `/v1/rollouts/${created.body.id}`, { schedule: null });
    expect(removed.body.policy.schedule).toBeNull();
    expect((await eventTypes(created.body.id)).filter((t) => t === 'rollout.policy_changed')).toHaveLength(2);
  });

  it('refuses a bad cron, time zone or cutoff naming the field, and records nothing', async () => {
    const before = await api.db.prisma.rollout.count();
    const cases: [unknown, string, RegExp][] = [
      [{ maintenanceWindows: [{ ...nightly, cron: '0 0 2 * * *' }] }, 'schedule.maintenanceWindows[0]', /five fields/],
      [{ maintenanceWindows: [{ ...nightly, timezone: 'Mars/Olympus' }] }, 'schedule.maintenanceWindows[0]', /IANA/],
      [{ maintenanceWindows: [nightly], cutoffMinutes: 60 }, 'schedule.maintenanceWindows[0]', /cutoffMinutes/],
      [{ startAt: 'tomorrow' }, 'schedule.startAt', /ISO 8601/],
      [{ endBehavior: 'explode' }, 'schedule.endBehavior', /pause|cancel/],
    ];
    for (const [schedule, field, message] of cases) {
      const res = await api.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-bad1'], schedule });
      expect(res.status, JSON.stringify(schedule)).toBe(400);
      expect(res.body.errors[0]).toMatchObject({ field, message: expect.stringMatching(message) });
    }
    expect(await api.db.prisma.rollout.count()).toBe(before);
  });
});
