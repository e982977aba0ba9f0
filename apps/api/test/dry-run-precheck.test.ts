import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCmsClient } from '@fleet/cms-client';
import type { CmsClient } from '@fleet/cms-client';
import { createSimulator } from '@fleet/cms-simulator';
import type { Simulator } from '@fleet/cms-simulator';
import { publishLimitsConfig } from '@fleet/limits';
import { instanceIds } from '@fleet/testing';
import { rolloutPlanSchema } from '../src/rollout-plan-schema.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

const ACCESS_KEY_ID = 'LTAIprecheck00001';
const ACCESS_KEY_SECRET = 'precheck-secret-Hq3';

let api: ApiHarness;
let sim: Simulator;
let cms: CmsClient;
beforeAll(async () => {
  // Installs finish at once; a tenth of the ids unknown to CloudMonitor, a third of installed agents failing.
  sim = createSimulator({
    accessKeys: { [ACCESS_KEY_ID]: ACCESS_KEY_SECRET },
    seed: 'precheck',
    faults: { latencyMs: 50, failureRate: 0, notFoundRate: 0.1, agentFailureRate: 0.3, installDurationMs: 0 },
  });
  const { url } = await sim.start(0);
  cms = createCmsClient({
    endpoint: url,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
  });
  api = await startApi({ cms });
  await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
});
afterAll(async () => {
  await api?.close();
  await cms?.close();
  await sim?.stop();
});

/** NodeInstall on `ids` (some calls at once), so that their agents run, or failed to install, or the id is unknown. */
async function installAgents(ids: readonly string[]): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < ids.length) await cms.nodeInstall({ userId: USER_ID, instanceId: ids[next++]!, force: false });
  };
  await Promise.all(Array.from({ length: 20 }, lane));
}

describe('a dry run with precheck: true', () => {
  it('counts 10,000 instances by the agent status the simulator holds for each, 50 ids a call', async () => {
    const ids = instanceIds(10_000, 'i-pre');
    await installAgents(ids.filter((_, n) => n % 10 < 3));
    const statsBefore = sim.stats();

    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ids,
      dryRun: true,
      precheck: true,
    });

    expect(res.status).toBe(200);
    expect(rolloutPlanSchema.safeParse(res.body).success).toBe(true);
    const expected = { skip: [] as string[], install: [] as string[], notFound: [] as string[] };
    const byStatus: Record<string, number> = {};
    for (const id of ids) {
      const report = sim.instance(id);
      if (report.unknown) {
        expected.notFound.push(id);
        continue;
      }
      byStatus[report.status] = (byStatus[report.status] ?? 0) + 1;
      (report.status === 'running' ? expected.skip : expected.install).push(id);
    }
    // Every kind is there in numbers, or the comparison below would prove little.
    expect(expected.skip.length).toBeGreaterThan(1000);
    expect(byStatus['install_faild']).toBeGreaterThan(500);
    expect(expected.notFound.length).toBeGreaterThan(500);
    const { precheck } = res.body;
    expect(precheck.counts).toEqual({
      skip: expected.skip.length,
      install: expected.install.length,
      not_found: expected.notFound.length,
      unchecked: 0,
    });
    expect(precheck.byStatus).toEqual(byStatus);
    expect(precheck.running).toEqual(expected.skip);
    expect(precheck.wouldInstall.map((i: { instanceId: string }) => i.instanceId)).toEqual(expected.install);
    expect(precheck.notFound).toEqual(expected.notFound);
    expect(precheck.calls).toBe(200);
    const statsAfter = sim.stats();
    expect(statsAfter.byAction['NodeStatusList']! - (statsBefore.byAction['NodeStatusList'] ?? 0)).toBe(200);
    expect(statsAfter.byAction['NodeInstall']).toBe(statsBefore.byAction['NodeInstall']);
    expect(await api.db.prisma.rollout.count()).toBe(0);
  }, 120_000);

  it('is refused without dryRun (400 naming precheck), and nothing is recorded', async () => {
    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-pre00001'],
      precheck: true,
    });
    expect(res.status).toBe(400);
    expect(res.body.errors).toEqual([expect.objectContaining({ field: 'precheck' })]);
    expect(await api.db.prisma.rollout.count()).toBe(0);
  });
});

describe('a dry run with precheck: true on an API without a CloudMonitor client', () => {
  it('answers 503 precheck_unavailable', async () => {
    const bare = await startApi();
    try {
      const res = await bare.request('POST', '/v1/rollouts', {
        userId: USER_ID,
        instanceIds: ['i-pre00001'],
        dryRun: true,
        precheck: true,
      });
      expect(res.status).toBe(503);
      expect(res.body.code).toBe('precheck_unavailable');
    } finally {
      await bare.close();
    }
  });
});
