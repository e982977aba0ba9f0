/** GET /v1/rollouts/:id/report (JSON and CSV) over real HTTP with real Postgres and Redis. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvRecords, instanceIds } from '@fleet/testing';
import { failInstallVerification } from '@fleet/db';
import { NO_GUARD, newRollout, failInstall, failVerification, rolloutWithFailures } from './rollout-fixtures.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('GET /v1/rollouts/:id/report', () => {
  it('counts per state and groups failures by cause, with normalised messages, recommended actions and the instances', async () => {
    const { rolloutId, ids } = await rolloutWithFailures(api, 'rep');
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
    const rolloutId = await newRollout(api, ids);
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
    await failVerification(api, rolloutId, ids[2]!, 'not_installed');
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
    const { rolloutId } = await rolloutWithFailures(api, 'cap');
    const res = await api.request('GET', `/v1/rollouts/${rolloutId}/report?instancesPerGroup=1`);
    expect(res.status).toBe(200);
    const guard = res.body.failures.groups[0];
    expect(guard).toMatchObject({ count: 3, instancesTruncated: true });
    expect(guard.instances).toHaveLength(1);
  });

  it('streams the same instances as CSV, one row each, quoted correctly and safe to open in a spreadsheet', async () => {
    const { rolloutId, ids } = await rolloutWithFailures(api, 'csv');
    // Hostile text from a remote API: a formula, a quote, a comma and a line break.
    await failInstall(api, rolloutId, ids[7]!, {
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
    const { rolloutId } = await rolloutWithFailures(api, 'all');
    const res = await fetch(`${api.url}/v1/rollouts/${rolloutId}/report?format=csv&scope=all`, {
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    const rows = csvRecords(await res.text());
    expect(rows).toHaveLength(12);
    expect(rows.filter((r) => r.cause === '').map((r) => r.state)).toEqual(Array(5).fill('succeeded'));
  });

  it('streams a 100,000-instance CSV page by page', async () => {
    const ids = instanceIds(100_000, 'i-big');
    const rolloutId = await newRollout(api, ids);
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
    const { rolloutId } = await rolloutWithFailures(api, 'ten');
    expect((await api.request('GET', `/v1/rollouts/${rolloutId}/report?format=xml`)).status).toBe(400);
    expect((await api.request('GET', `/v1/rollouts/${rolloutId}/report?bogus=1`)).status).toBe(400);
    const other = await api.createKey('viewer', ['9999999999999999']);
    expect((await api.requestAs(other.key, 'GET', `/v1/rollouts/${rolloutId}/report`)).status).toBe(404);
    expect((await api.requestAs(null, 'GET', `/v1/rollouts/${rolloutId}/report`)).status).toBe(401);
  });
});
