import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountClients, parseEndpointAllowlist } from '@fleet/accounts';
import type { AccountClients } from '@fleet/accounts';
import { createCmsClient } from '@fleet/cms-client';
import type { CmsClientOptions } from '@fleet/cms-client';
import type { CmsClient } from '@fleet/cms-client';
import { createSimulator } from '@fleet/cms-simulator';
import type { Simulator } from '@fleet/cms-simulator';
import { publishLimitsConfig } from '@fleet/limits';
import { capturingLogger, instanceIds } from '@fleet/testing';
import { rolloutPlanSchema } from '../src/rollout-plan-schema.ts';
import type { ApiHarness } from './support.ts';
import { startApi, testSecretBox, USER_ID } from './support.ts';

const ACCESS_KEY_ID = 'LTAIprecheck00001';
const ACCESS_KEY_SECRET = 'precheck-secret-Hq3';
/** The AccessKey an account of its own stores (POST /v1/accounts): the pre-check of that account signs with it. */
const ACCOUNT_KEY = { accessKeyId: 'LTAIprecheckacct02', accessKeySecret: 'precheck-account-secret-Zr7' };
const OWN_KEY_ACCOUNT = '2234567898765432';

let api: ApiHarness;
let sim: Simulator;
let cms: CmsClient;
let accountClients: AccountClients | undefined;
beforeAll(async () => {
  // Installs finish at once; a tenth of the ids unknown to CloudMonitor, a third of installed agents failing.
  sim = createSimulator({
    accessKeys: { [ACCESS_KEY_ID]: ACCESS_KEY_SECRET, [ACCOUNT_KEY.accessKeyId]: ACCOUNT_KEY.accessKeySecret },
    seed: 'precheck',
    faults: { latencyMs: 50, failureRate: 0, notFoundRate: 0.1, agentFailureRate: 0.3, installDurationMs: 0 },
  });
  const { url } = await sim.start(0);
  const options: CmsClientOptions = {
    endpoint: url,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: ACCESS_KEY_SECRET },
  };
  cms = createCmsClient(options);
  // As main.ts makes them: an account with stored credentials is called with those, the others with the API's pair.
  api = await startApi({
    cms,
    accountClients: (db) =>
      (accountClients = createAccountClients({
        db,
        box: testSecretBox(),
        own: { client: cms, options, limits: { maxRatePerSecond: 1, burst: 1 } },
        allowlist: parseEndpointAllowlist(''),
        logger: capturingLogger({ service: 'precheck-accounts' }).logger,
      })),
  });
  await publishLimitsConfig(api.redis, api.prefix, { globalConcurrency: 500, accountRateLimitRps: 50 });
});
afterAll(async () => {
  await api?.close();
  await accountClients?.close();
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

  it('asks DescribeMonitoringAgentStatuses with driver install-monitoring-agent, its statuses in the same categories', async () => {
    const ids = instanceIds(1000, 'i-preima');
    // A call naming an id CloudMonitor does not know installs nowhere (ResourceNotFound): install known ones only.
    const installed = ids.filter((id, n) => n % 10 < 4 && !sim.instance(id).unknown);
    // A fifth of the hosts have no Cloud Assistant client: InstallMonitoringAgent accepts them and installs nothing.
    sim.setScenario({ noCloudAssistantRate: 0.2 });
    for (let at = 0; at < installed.length; at += 10) {
      const answer = await cms.installMonitoringAgent({ instanceIds: installed.slice(at, at + 10), force: false });
      expect(answer.outcome.kind).toBe('success');
    }
    const statsBefore = sim.stats();

    const res = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ids,
      driver: 'install-monitoring-agent',
      dryRun: true,
      precheck: true,
    });

    expect(res.status).toBe(200);
    expect(rolloutPlanSchema.safeParse(res.body).success).toBe(true);
    const expected = {
      skip: [] as string[],
      install: [] as string[],
      notFound: [] as string[],
      noCloudAssistant: [] as string[],
    };
    const byStatus: Record<string, number> = {};
    for (const id of ids) {
      const report = sim.instance(id);
      if (report.unknown) {
        expected.notFound.push(id);
        continue;
      }
      // 2019-01-01 has no `uninstalled`: the action reports such an agent not_installed.
      const status = report.status === 'uninstalled' ? 'not_installed' : report.status;
      byStatus[status] = (byStatus[status] ?? 0) + 1;
      (status === 'running' ? expected.skip : expected.install).push(id);
      if (status === 'not_installed' && report.noCloudAssistant) expected.noCloudAssistant.push(id);
    }
    sim.setScenario({ noCloudAssistantRate: 0 });
    expect(expected.skip.length).toBeGreaterThan(150);
    expect(byStatus['install_faild']).toBeGreaterThan(50);
    expect(byStatus['not_installed']).toBeGreaterThan(300);
    const { precheck } = res.body;
    expect(precheck.counts).toEqual({
      skip: expected.skip.length,
      install: expected.install.length,
      not_found: expected.notFound.length,
      unchecked: 0,
    });
    expect(precheck.byStatus).toEqual(byStatus);
    expect(precheck.running).toEqual(expected.skip);
    expect(precheck.notFound).toEqual(expected.notFound);
    // Hosts without Cloud Assistant, installed or not, are named apart: the new driver would never install them.
    expect(expected.noCloudAssistant.length).toBeGreaterThan(100);
    expect(expected.noCloudAssistant.some((id) => installed.includes(id))).toBe(true);
    expect(precheck.noCloudAssistant).toEqual(expected.noCloudAssistant);
    expect(precheck.calls).toBe(20);
    const statsAfter = sim.stats();
    const delta = (action: string) => (statsAfter.byAction[action] ?? 0) - (statsBefore.byAction[action] ?? 0);
    expect(delta('DescribeMonitoringAgentStatuses')).toBe(20);
    expect(delta('NodeStatusList')).toBe(0);
  }, 120_000);

  it("signs with the account's own stored AccessKey when it has one, with the API's pair otherwise", async () => {
    const made = await api.request('POST', '/v1/accounts', {
      userId: OWN_KEY_ACCOUNT,
      name: 'own key',
      credentials: ACCOUNT_KEY,
    });
    expect(made.status).toBe(201);
    const ids = instanceIds(120, 'i-preacct');
    const keyCalls = () => {
      const byKey = sim.stats().callsByAccessKeyId;
      return { account: byKey[ACCOUNT_KEY.accessKeyId] ?? 0, api: byKey[ACCESS_KEY_ID] ?? 0 };
    };
    const before = keyCalls();
    const own = await api.request('POST', '/v1/rollouts', {
      userId: OWN_KEY_ACCOUNT,
      instanceIds: ids,
      dryRun: true,
      precheck: true,
    });
    expect(own.status).toBe(200);
    expect(own.body.precheck.calls).toBe(3);
    expect(own.body.precheck.counts.unchecked).toBe(0);
    // NodeStatusList (the default driver): AutoInstall false there is no Cloud Assistant verdict.
    expect(own.body.precheck.noCloudAssistant).toEqual([]);
    const afterOwn = keyCalls();
    expect(afterOwn.account - before.account).toBe(3);
    expect(afterOwn.api).toBe(before.api);

    // An account without credentials of its own: the API's CMS_* pair, as before accounts existed.
    const plain = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ids,
      dryRun: true,
      precheck: true,
    });
    expect(plain.status).toBe(200);
    const afterPlain = keyCalls();
    expect(afterPlain.api - afterOwn.api).toBe(3);
    expect(afterPlain.account).toBe(afterOwn.account);
  });

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
