/**
 * GET /v1/rollouts/:id/report (JSON and CSV), progress on GET /v1/rollouts/:id, and POST /v1/rollouts/:id/retry,
 * over real HTTP with real Postgres and Redis.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  failInstallVerification,
  insertRollout,
  raiseMissingManualInstallFlags,
  transitionManualInstallFlag,
} from '@fleet/db';
import { limitsConfigKey, publishLimitsConfig } from '@fleet/limits';
import { createLogger } from '@fleet/logger';
import { openInstallQueue } from '@fleet/queue';
import { csvRecords, instanceIds } from '@fleet/testing';
import { retriedRolloutSchema, rolloutSchema } from '../src/response-schemas.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const quiet = createLogger({ service: 'api-test', silent: true });
let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

const NO_GUARD = (id: string) =>
  `The Server Guard (Aegis) agent is not installed or not online on instance ${id}, ` +
  'so the CloudMonitor agent cannot be installed remotely. Log on to the instance and install the CloudMonitor agent manually.';

async function newRollout(ids: string[], status: 'running' | 'completed' | 'cancelled' = 'completed') {
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

async function failInstall(
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

async function failVerification(rolloutId: string, instanceId: string, agentStatus: 'install_faild' | 'not_installed') {
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
async function rolloutWithFailures(label: string) {
  const ids = instanceIds(12, `i-${label}`);
  const rolloutId = await newRollout(ids);
  for (const [i, id] of ids.slice(0, 3).entries())
    await failInstall(rolloutId, id, {
      code: '400',
      message: NO_GUARD(id),
      reason: 'no_server_guard_agent',
      requestId: `R-guard-${i}`,
      attempts: 1,
    });
  for (const [i, id] of ids.slice(3, 5).entries()) {
    await failInstall(rolloutId, id, {
      code: 'InvalidInstanceId.NotFound',
      message: `The specified instance ${id} does not exist.`,
      reason: 'instance_not_found',
      requestId: `R-nf-${i}`,
      httpStatus: 404,
    });
  }
  for (const id of ids.slice(5, 7)) await failVerification(rolloutId, id, 'install_faild');
  await raiseMissingManualInstallFlags(api.db, rolloutId);
  return { rolloutId, ids };
}

describe('GET /v1/rollouts/:id/report', () => {
  it('counts per state and groups failures by cause, with normalised messages, recommended actions and the instances', async () => {
    const { rolloutId, ids } = await rolloutWithFailures('rep');
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      rolloutId,
      userId: USER_ID,
      status: 'completed',
      counts: { total: 12, succeeded: 7, failed: 5, pending: 0, in_progress: 0, cancelled: 0 },
      verification: { failed: 2, verified: 0, pending: 0, notChecked: 5 },
      manualInstallFlags: { open: 7, acknowledged: 0, resolved: 0, closed: 0 },
      // Completed: over, so no rate and no ETA.
      progress: { done: 12, total: 12, fraction: 1, ratePerSecond: null, etaSeconds: null, etaAt: null },
      failures: { total: 7, causes: 3 },
    });
    type FailureGroupBody = {
      errorCode: string;
      count: number;
      kind: string;
      cause: string;
      sampleMessage: string;
      manualInstallReasons: Record<string, number>;
      recommendedAction: string;
      instances: { state: string; verification: string | null; agentStatus: string | null }[];
    };
    const groups: FailureGroupBody[] = res.body.failures.groups;
    expect(groups.map((g) => [g.errorCode, g.count, g.kind])).toEqual([
      ['400', 3, 'install_failed'],
      ['InvalidInstanceId.NotFound', 2, 'install_failed'],
      ['agent:install_faild', 2, 'verification_failed'],
    ]);
    const [guard, notFound, agent] = groups as [FailureGroupBody, FailureGroupBody, FailureGroupBody];
    expect(guard.cause).toBe(`400: ${NO_GUARD('<instance>')}`);
    expect(guard.sampleMessage).toBe(NO_GUARD(ids[0]!));
    expect(guard.manualInstallReasons).toEqual({ no_server_guard_agent: 3 });
    expect(guard.recommendedAction).toMatch(/Server Guard/);
    expect(guard.instances).toHaveLength(3);
    expect(guard.instances[0]).toMatchObject({
      instanceId: ids[0],
      state: 'failed',
      lastRequestId: 'R-guard-0',
      attempts: 1,
      lastError: { code: '400', message: NO_GUARD(ids[0]!), httpStatus: 200, outcome: 'final' },
      manualInstallReason: 'no_server_guard_agent',
      manualInstallFlag: { status: 'open' },
    });
    expect(notFound.cause).toBe('InvalidInstanceId.NotFound: The specified instance <instance> does not exist.');
    expect(notFound.recommendedAction).toMatch(/instance id/);
    expect(agent).toMatchObject({ manualInstallReasons: { install_failed_on_host: 2 }, instancesTruncated: false });
    expect(agent.instances.map((i) => [i.state, i.verification, i.agentStatus])).toEqual([
      ['succeeded', 'failed', 'install_faild'],
      ['succeeded', 'failed', 'install_faild'],
    ]);
  });

  it('groups hosts without Cloud Assistant under their own cause, with its action, in JSON and in the CSV', async () => {
    const ids = instanceIds(4, 'i-noca');
    const rolloutId = await newRollout(ids);
    for (const id of ids.slice(0, 2)) {
      const row = await api.db.prisma.rolloutInstance.update({
        where: { rolloutId_instanceId: { rolloutId, instanceId: id } },
        data: { verification: 'pending', verifyDeadlineAt: new Date() },
      });
      const outcome = await failInstallVerification(api.db, {
        rolloutInstanceId: row.id,
        reason: 'cloud_assistant_missing',
        agentStatus: 'not_installed',
        detail: 'DescribeMonitoringAgentStatuses reports not_installed with AutoInstall false',
      });
      expect(outcome.kind).toBe('flagged');
    }
    await failVerification(rolloutId, ids[2]!, 'not_installed');
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    expect(res.status).toBe(200);
    const groups = res.body.failures.groups as {
      cause: string;
      count: number;
      manualInstallReasons: Record<string, number>;
      recommendedAction: string;
    }[];
    const missing = groups.find((g) => g.manualInstallReasons['cloud_assistant_missing'] !== undefined)!;
    const notRunning = groups.find((g) => g.manualInstallReasons['agent_not_running'] !== undefined)!;
    expect(groups).toHaveLength(2);
    expect(missing).toMatchObject({ count: 2, manualInstallReasons: { cloud_assistant_missing: 2 } });
    expect(missing.cause).toBe(
      'agent:not_installed: InstallMonitoringAgent succeeded but the host has no Cloud Assistant client ' +
        '(AutoInstall false), so the agent was never installed',
    );
    expect(missing.recommendedAction).toMatch(/install the Cloud Assistant client on the instance first/);
    expect(notRunning.count).toBe(1);
    const flags = await api.request('GET', `/v1/manual-install-flags?rolloutId=${rolloutId}`);
    const flag = flags.body.items.find((f: { instanceId: string }) => f.instanceId === ids[0]);
    expect(flag).toMatchObject({ reason: 'cloud_assistant_missing', status: 'open' });
    expect(flag.recommendedAction).toMatch(/Cloud Assistant client/);

    const csv = await fetch(`${api.url}/v1/rollouts/${rolloutId}/report?format=csv`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    const rows = csvRecords(await csv.text());
    expect(rows).toHaveLength(3);
    for (const id of ids.slice(0, 2))
      expect(rows.find((r) => r.instance_id === id)).toMatchObject({
        cause: missing.cause,
        manual_install_reason: 'cloud_assistant_missing',
        verification: 'failed',
        agent_status: 'not_installed',
        recommended_action: missing.recommendedAction,
      });
  });

  it('caps the instances listed per group in JSON and says so, while counts stay complete', async () => {
    const { rolloutId } = await rolloutWithFailures('cap');
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}/report?instancesPerGroup=1`);
    expect(res.status).toBe(200);
    const guard = res.body.failures.groups[0];
    expect(guard).toMatchObject({ count: 3, instancesTruncated: true });
    expect(guard.instances).toHaveLength(1);
  });

  it('streams the same instances as CSV, one row each, quoted correctly and safe to open in a spreadsheet', async () => {
    const { rolloutId, ids } = await rolloutWithFailures('csv');
    // Hostile text from a remote API: a formula, a quote, a comma and a line break.
    await failInstall(rolloutId, ids[7]!, {
      code: '=HYPERLINK("http://evil")',
      message: '-2+3 "quoted", with comma\nand a line',
      reason: 'rejected',
      requestId: '@R-odd',
    });
    const json = await api.request('GET', `/v1/rollouts/${rolloutId}/report?instancesPerGroup=1000`);
    const res = await fetch(`${api.url}/v1/rollouts/${rolloutId}/report?format=csv`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/csv/);
    expect(res.headers.get('content-disposition')).toMatch(
      new RegExp(`^attachment; filename="rollout-${rolloutId}-failures-.+\\.csv"$`),
    );
    const text = await res.text();
    const rows = csvRecords(text);
    expect(rows).toHaveLength(json.body.failures.total);
    expect(rows).toHaveLength(8);

    // Every JSON instance is a CSV row with the same cause, RequestId, attempts and error.
    const byId = new Map(rows.map((r) => [r.instance_id, r]));
    for (const group of json.body.failures.groups) {
      for (const instance of group.instances) {
        const row = byId.get(instance.instanceId)!;
        expect(row).toBeDefined();
        expect(row.rollout_id).toBe(rolloutId);
        expect(row.state).toBe(instance.state);
        expect(row.attempts).toBe(String(instance.attempts));
        expect(row.manual_install_reason).toBe(instance.manualInstallReason ?? '');
        if (group.cause.startsWith('=')) continue;
        expect(row.cause).toBe(group.cause);
        expect(row.last_request_id).toBe(instance.lastRequestId);
        expect(row.error_message).toBe(instance.lastError?.message ?? '');
      }
    }
    const odd = byId.get(ids[7]!)!;
    expect(odd.error_code).toBe(`'=HYPERLINK("http://evil")`);
    expect(odd.error_message).toBe(`'-2+3 "quoted", with comma\nand a line`);
    expect(odd.last_request_id).toBe("'@R-odd");
    expect(odd.cause!.startsWith("'=HYPERLINK")).toBe(true);
  });

  it('lists every instance with scope=all', async () => {
    const { rolloutId } = await rolloutWithFailures('all');
    const res = await fetch(`${api.url}/v1/rollouts/${rolloutId}/report?format=csv&scope=all`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    const rows = csvRecords(await res.text());
    expect(rows).toHaveLength(12);
    expect(rows.filter((r) => r.cause === '').map((r) => r.state)).toEqual(Array(5).fill('succeeded'));
  });

  it('streams a 100,000-instance CSV page by page', async () => {
    const ids = instanceIds(100_000, 'i-big');
    const rolloutId = await newRollout(ids);
    await api.db.prisma.$executeRaw`
      UPDATE rollout_instance SET state = 'failed', last_error_code = '400',
        last_error_message = 'The Server Guard agent is not online on instance ' || instance_id,
        last_request_id = 'R-' || id, needs_manual_install = true, manual_install_reason = 'no_server_guard_agent'
      WHERE rollout_id = ${rolloutId}::uuid`;
    const started = Date.now();
    const res = await fetch(`${api.url}/v1/rollouts/${rolloutId}/report?format=csv`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    let bytes = 0;
    let newlines = 0;
    let chunks = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      chunks++;
      bytes += chunk.byteLength;
      for (const b of chunk) if (b === 10) newlines++;
    }
    expect(newlines).toBe(100_001);
    expect(chunks).toBeGreaterThan(10);
    process.stdout.write(
      `100,000-instance CSV: ${(bytes / 1e6).toFixed(1)} MB in ${Date.now() - started} ms, ${chunks} chunks\n`,
    );
    const json = await api.request('GET', `/v1/rollouts/${rolloutId}/report?instancesPerGroup=5`);
    expect(json.body.failures).toMatchObject({
      total: 100_000,
      causes: 1,
      groups: [{ count: 100_000, instancesTruncated: true }],
    });
  }, 120_000);

  it("refuses a bad query and hides another tenant's rollout", async () => {
    const { rolloutId } = await rolloutWithFailures('ten');
    expect((await api.request('GET', `/v1/rollouts/${rolloutId}/report?format=xml`)).status).toBe(400);
    expect((await api.request('GET', `/v1/rollouts/${rolloutId}/report?bogus=1`)).status).toBe(400);
    const other = await api.createKey('viewer', ['9999999999999999']);
    expect((await api.requestAs(other.key, 'GET', `/v1/rollouts/${rolloutId}/report`)).status).toBe(404);
    expect((await api.requestAs(null, 'GET', `/v1/rollouts/${rolloutId}/report`)).status).toBe(401);
  });
});

describe('progress on GET /v1/rollouts/:id', () => {
  it('shows done / total, the rate over the last minute and an ETA for a running rollout', async () => {
    const ids = instanceIds(100, 'i-prog');
    const rolloutId = await newRollout(ids, 'running');
    // Ten minutes old: the rate is over the whole last minute.
    await api.db.prisma.rollout.update({
      where: { id: rolloutId },
      data: { createdAt: new Date(Date.now() - 600_000) },
    });
    // 40 done: 30 within the last minute (0.5 per second), 10 long ago; 60 to go.
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'pending', finishedAt: null },
    });
    const rows = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      orderBy: { id: 'asc' },
      select: { id: true },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.slice(0, 30).map((r) => r.id) } },
      data: { state: 'succeeded', finishedAt: new Date(Date.now() - 10_000) },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.slice(30, 40).map((r) => r.id) } },
      data: { state: 'failed', finishedAt: new Date(Date.now() - 600_000) },
    });
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(res.status).toBe(200);
    expect(res.body.progress).toMatchObject({
      done: 40,
      total: 100,
      fraction: 0.4,
      ratePerSecond: 0.5,
      windowSeconds: 60,
      etaSeconds: 120,
    });
    expect(Date.parse(res.body.progress.etaAt) - Date.now()).toBeGreaterThan(100_000);
    rolloutSchema.parse(res.body);
  });

  it('measures a rollout 5 s old over those 5 s: about 20 a second and an ETA of about 95 s, not 1.73 and 1094 s', async () => {
    const rolloutId = await newRollout(instanceIds(2000, 'i-young'), 'running');
    const createdAt = Date.now() - 5_000;
    await api.db.prisma.rollout.update({ where: { id: rolloutId }, data: { createdAt: new Date(createdAt) } });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId },
      data: { state: 'pending', finishedAt: null },
    });
    // 104 finished in its first 5 seconds (what the operator saw: 1.73 a second over 60 s is 104).
    const rows = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId },
      orderBy: { id: 'asc' },
      select: { id: true },
      take: 104,
    });
    await api.db.prisma.$executeRaw`
      UPDATE rollout_instance AS ri SET state = 'succeeded', finished_at = t.at
      FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((_, k) => new Date(createdAt + 100 + k * 45))}::timestamptz[]) AS t(id, at)
      WHERE ri.id = t.id`;
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(res.status).toBe(200);
    const { progress } = res.body;
    expect(progress).toMatchObject({ done: 104, total: 2000 });
    // The window is the rollout's age at the request's whole second (progress is computed as of it, so that the body
    // and its ETag hold for that second): 5 s plus however long this test took since, less up to a second.
    expect(progress.windowSeconds).toBeGreaterThanOrEqual(4);
    expect(progress.windowSeconds).toBeLessThan(10);
    // The rate is of the finishes before that whole second over the exact age (windowSeconds shows it in 0.1 s
    // steps): finishes within the request's own second count from the next second on, as the window does.
    const asOf = createdAt + progress.windowSeconds * 1000;
    const finishedBefore = rows.filter((_, k) => createdAt + 100 + k * 45 < asOf).length;
    expect(Math.abs(progress.ratePerSecond - finishedBefore / progress.windowSeconds)).toBeLessThan(0.5);
    expect(progress.ratePerSecond).toBeGreaterThan(10);
    // About 95 s (1896 left at about 20 a second); as of the whole second the window may end up to a second before the
    // last finishes it has seen, so a little sooner, never the 1094 s of a fixed 60 s window.
    expect(progress.etaSeconds).toBeGreaterThanOrEqual(80);
    expect(progress.etaSeconds).toBeLessThan(190);
    rolloutSchema.parse(res.body);
  });

  it('shows a completed or cancelled rollout with no rate and no ETA, and a paused one with no ETA', async () => {
    for (const status of ['completed', 'cancelled'] as const) {
      const rolloutId = await newRollout(instanceIds(10, `i-over-${status}`), status);
      // Finished a second ago: the rate would read 10 over the last minute.
      await api.db.prisma.rolloutInstance.updateMany({
        where: { rolloutId },
        data: { finishedAt: new Date(Date.now() - 1_000) },
      });
      const res = await api.request('GET', `/v1/rollouts/${rolloutId}`);
      expect(res.body.progress, status).toMatchObject({
        done: 10,
        fraction: 1,
        ratePerSecond: null,
        etaSeconds: null,
        etaAt: null,
      });
    }
    const rolloutId = await newRollout(instanceIds(10, 'i-paused'), 'running');
    await api.db.prisma.rollout.update({
      where: { id: rolloutId },
      data: { status: 'paused', createdAt: new Date(Date.now() - 600_000) },
    });
    const rows = await api.db.prisma.rolloutInstance.findMany({ where: { rolloutId }, select: { id: true }, take: 4 });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { rolloutId, id: { notIn: rows.map((r) => r.id) } },
      data: { state: 'pending', finishedAt: null },
    });
    await api.db.prisma.rolloutInstance.updateMany({
      where: { id: { in: rows.map((r) => r.id) } },
      data: { finishedAt: new Date(Date.now() - 1_000) },
    });
    const paused = await api.request('GET', `/v1/rollouts/${rolloutId}`);
    expect(paused.body.progress).toMatchObject({ done: 4, etaSeconds: null, etaAt: null });
    expect(paused.body.progress.ratePerSecond).toBeCloseTo(4 / 60, 2);
  });
});

describe('POST /v1/rollouts/:id/retry', () => {
  it('refuses a rollout that is still running', async () => {
    const rolloutId = await newRollout(instanceIds(2, 'i-run'), 'running');
    const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
    expect(res.status).toBe(409);
    expect(res.body.code).toBe('rollout_not_finished');
  });

  it('creates a follow-up rollout of the failed instances, linked to the original and enqueued; one at a time', async () => {
    const { rolloutId, ids } = await rolloutWithFailures('retry');
    const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { concurrency: 3 });
    expect(res.status).toBe(202);
    expect(res.headers.get('location')).toBe(`/v1/rollouts/${res.body.id}`);
    expect(res.body).toMatchObject({
      parentRolloutId: rolloutId,
      userId: USER_ID,
      status: 'running',
      concurrency: 3,
      force: true,
      counts: { total: 7, pending: 7 },
      retryOf: { rolloutId, cause: null, instances: 7 },
    });
    const retried = await api.db.prisma.rolloutInstance.findMany({
      where: { rolloutId: res.body.id },
      orderBy: { instanceId: 'asc' },
    });
    expect(retried.map((i) => i.instanceId)).toEqual(ids.slice(0, 7).sort());
    expect(await api.db.prisma.rollout.findUniqueOrThrow({ where: { id: res.body.id } })).toMatchObject({
      parentRolloutId: rolloutId,
      maxAttempts: 3,
    });
    const queue = openInstallQueue(api.redis, res.body.id, api.prefix, quiet);
    expect((await queue.getRanges(['wait'], 0, -1)).sort()).toEqual(ids.slice(0, 7).sort());
    expect(await queue.getGlobalConcurrency()).toBe(3);
    await queue.close();

    const again = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
    expect(again.status).toBe(409);
    expect(again.body.code).toBe('retry_in_progress');
    const report = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    expect(report.body.retries).toEqual([
      expect.objectContaining({ id: res.body.id, status: 'running', totalInstances: 7 }),
    ]);
    expect((await api.request('GET', `/v1/rollouts/${res.body.id}/report`)).body.parentRolloutId).toBe(rolloutId);
  });

  it('shows parentRolloutId on GET and in the listing of a retry (null for the original), and the 202 shows the limits GET shows', async () => {
    const { rolloutId } = await rolloutWithFailures('link');
    // What the workers publish about the limits in force (worker main.ts).
    await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
    try {
      const res = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {});
      expect(res.status).toBe(202);
      const limits = { concurrency: 7, globalConcurrency: 500, accountRateLimitRps: 50, accountRateNowRps: 50 };
      expect(res.body).toMatchObject({ parentRolloutId: rolloutId, limits });
      const got = await api.request('GET', `/v1/rollouts/${res.body.id}`);
      expect(got.body).toMatchObject({ id: res.body.id, parentRolloutId: rolloutId, limits });
      expect(res.body.limits).toEqual(got.body.limits);
      expect((await api.request('GET', `/v1/rollouts/${rolloutId}`)).body.parentRolloutId).toBeNull();
      const listed = (await api.request('GET', `/v1/rollouts?limit=200`)).body.items as {
        id: string;
        parentRolloutId: string | null;
      }[];
      expect(listed.find((r) => r.id === res.body.id)?.parentRolloutId).toBe(rolloutId);
      expect(listed.find((r) => r.id === rolloutId)?.parentRolloutId).toBeNull();
      retriedRolloutSchema.parse(res.body);
      rolloutSchema.parse(got.body);
    } finally {
      await api.redis.del(limitsConfigKey(api.prefix));
    }
  });

  it('retries one cause, or chosen instances, and leaves instances an operator handled by hand', async () => {
    const { rolloutId, ids } = await rolloutWithFailures('cause');
    const report = await api.request('GET', `/v1/rollouts/${rolloutId}/report`);
    const notFoundCause = report.body.failures.groups[1].cause;
    const byCause = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { cause: notFoundCause });
    expect(byCause.status).toBe(202);
    expect(byCause.body.retryOf).toEqual({ rolloutId, cause: notFoundCause, instances: 2 });
    await api.db.prisma.rollout.update({ where: { id: byCause.body.id }, data: { status: 'completed' } });

    // An operator installed one by hand (resolved) and gave up on another (closed).
    const flags = await api.db.prisma.manualInstallFlag.findMany({
      where: { rolloutId, instanceId: { in: [ids[0]!, ids[1]!] } },
      orderBy: { instanceId: 'asc' },
    });
    await transitionManualInstallFlag(api.db, {
      flagId: flags[0]!.id,
      event: { type: 'resolve' },
      actor: 'ops',
      note: 'done by hand',
    });
    await transitionManualInstallFlag(api.db, { flagId: flags[1]!.id, event: { type: 'close' }, actor: 'ops' });
    const guardCause = report.body.failures.groups[0].cause;
    const chosen = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, {
      cause: guardCause,
      instanceIds: [ids[2]],
      force: false,
    });
    expect(chosen.status).toBe(202);
    expect(chosen.body).toMatchObject({ force: false, retryOf: { instances: 1 } });
    await api.db.prisma.rollout.update({ where: { id: chosen.body.id }, data: { status: 'completed' } });

    const handled = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { instanceIds: [ids[0]] });
    expect(handled.status).toBe(400);
    expect(handled.body.errors).toEqual([expect.objectContaining({ field: 'instanceIds[0]' })]);
    const unknown = await api.request('POST', `/v1/rollouts/${rolloutId}/retry`, { cause: '400: nothing like this' });
    expect(unknown.status).toBe(400);
    expect(unknown.body.errors).toEqual([expect.objectContaining({ field: 'cause' })]);
  });

  it('answers 409 when nothing is left to retry, 400 for unknown fields, 403 for a viewer', async () => {
    const clean = await newRollout(instanceIds(3, 'i-clean'));
    const nothing = await api.request('POST', `/v1/rollouts/${clean}/retry`, {});
    expect(nothing.status).toBe(409);
    expect(nothing.body.code).toBe('nothing_to_retry');
    expect((await api.request('POST', `/v1/rollouts/${clean}/retry`, { everything: true })).status).toBe(400);
    const viewer = await api.createKey('viewer', [USER_ID]);
    expect((await api.requestAs(viewer.key, 'POST', `/v1/rollouts/${clean}/retry`, {})).status).toBe(403);
  });
});
