import { describe, expect, it } from 'vitest';
import { instanceIds } from '@fleet/testing';
import { isNoCloudAssistantInstance } from '../src/index.ts';
import { callJson, simJson, useSimulators } from './support/client.ts';

/** The 2019-01-01 agent actions, signed with the tests' own v1 signer (V3 and the SDKs: sdk-monitoring-agent.test.ts). */

const simulator = useSimulators();
const V2019 = { version: '2019-01-01', method: 'POST' } as const;

function listed(ids: readonly string[]): Record<string, string> {
  return Object.fromEntries(ids.map((id, i) => [`InstanceIds.${i + 1}`, id]));
}

type NodeStatus = { InstanceId: string; Status: string; AutoInstall: boolean };

async function statuses(url: string, ids: readonly string[]): Promise<NodeStatus[]> {
  const response = await callJson(url, 'DescribeMonitoringAgentStatuses', { InstanceIds: ids.join(',') }, V2019);
  expect(response.status).toBe(200);
  return (response.body.NodeStatusList as { NodeStatus: NodeStatus[] }).NodeStatus;
}

describe('InstallMonitoringAgent', () => {
  it('installs on up to 10 instances in one call, answering Code 200 and nothing per instance', async () => {
    const { url, sim } = await simulator({ installDurationMs: 60_000 });
    const ids = instanceIds(10, 'i-ima');
    const response = await callJson(url, 'InstallMonitoringAgent', { ...listed(ids), Force: 'true' }, V2019);
    expect(response.status).toBe(200);
    expect(Object.keys(response.body).sort()).toEqual(['Code', 'Message', 'RequestId', 'Success']);
    expect(response.body).toMatchObject({ Code: '200', Success: true });
    expect(Object.keys(sim.stats().installsByInstance).sort()).toEqual([...ids].sort());
    expect((await statuses(url, ids)).map((node) => node.Status)).toEqual(ids.map(() => 'installing'));
    // Each instance of the call remembers the call's RequestId, to match a client's attempt rows.
    expect(sim.instance(ids[3]!).requestIds).toEqual([response.body.RequestId]);
  });

  it('counts its requests apart from NodeInstall: per instance named, instances in flight, requests per second', async () => {
    const { url, sim } = await simulator({ latencyMs: 100 });
    const first = instanceIds(10, 'i-cnt');
    const second = instanceIds(4, 'i-cnu');
    await Promise.all([
      callJson(url, 'InstallMonitoringAgent', listed(first), V2019),
      callJson(url, 'InstallMonitoringAgent', listed(second), V2019),
    ]);
    await callJson(url, 'InstallMonitoringAgent', listed(second.slice(0, 1)), V2019);
    // A request the gateway refuses arrives (in flight, per second) but never reaches the action.
    await callJson(url, 'InstallMonitoringAgent', listed(first.slice(0, 2)), { ...V2019, secret: 'bad' });
    const agent = sim.stats().monitoringAgent;
    expect(agent).toMatchObject({ requests: 3, inFlight: 0, instancesInFlight: 0, maxInFlight: 2, maxPerSecond: 4 });
    expect(agent.maxInstancesInFlight).toBe(14);
    expect(agent.callsByInstance).toEqual({
      ...Object.fromEntries(first.map((id) => [id, 1])),
      ...Object.fromEntries(second.map((id, i) => [id, i === 0 ? 2 : 1])),
    });
    expect(sim.stats().requests).toBe(0);
  });

  it('11 instances -> 400 ParameterInvalid and nothing installed', async () => {
    const { url, sim } = await simulator();
    const response = await callJson(url, 'InstallMonitoringAgent', listed(instanceIds(11, 'i-ima')), V2019);
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('ParameterInvalid');
    expect(response.body.Message).toContain('at most 10');
    expect(sim.stats().installsByInstance).toEqual({});
  });

  it('neither InstanceIds nor InstallCommand, a gap in the numbering, a malformed id or Force=maybe -> ParameterInvalid', async () => {
    const { url } = await simulator();
    const cases: Record<string, string>[] = [
      {},
      { 'InstanceIds.1': 'i-a1', 'InstanceIds.3': 'i-a3' },
      { 'InstanceIds.1': 'not-an-instance' },
      { 'InstanceIds.1': 'i-a1', Force: 'maybe' },
      { InstallCommand: 'everything' },
    ];
    for (const params of cases) {
      const response = await callJson(url, 'InstallMonitoringAgent', params, V2019);
      expect([response.status, response.body.Code]).toEqual([400, 'ParameterInvalid']);
    }
  });

  it('an instance that does not exist -> 404 ResourceNotFound for the whole call, nothing installed', async () => {
    const { url, sim } = await simulator({ notFoundRate: 0.5, seed: 'nf2019' });
    const response = await callJson(url, 'InstallMonitoringAgent', listed(instanceIds(10, 'i-nf')), V2019);
    expect(response.status).toBe(404);
    expect(response.body.Code).toBe('ResourceNotFound');
    expect(sim.stats().installsByInstance).toEqual({});
  });

  it('hosts without Cloud Assistant are accepted but never installed: not_installed, AutoInstall false', async () => {
    const { url, sim } = await simulator({ faults: { noCloudAssistantRate: 0.3 }, seed: 'ca', installDurationMs: 0 });
    const ids = instanceIds(10, 'i-ca');
    const missing = ids.filter((id) => isNoCloudAssistantInstance('ca', id, 0.3));
    expect(missing.length).toBeGreaterThan(0);
    expect(missing.length).toBeLessThan(ids.length);
    const response = await callJson(url, 'InstallMonitoringAgent', listed(ids), V2019);
    expect(response.body.Success).toBe(true);
    const nodes = await statuses(url, ids);
    for (const node of nodes) {
      const lacks = missing.includes(node.InstanceId);
      expect([node.InstanceId, node.Status, node.AutoInstall]).toEqual([
        node.InstanceId,
        lacks ? 'not_installed' : 'running',
        !lacks,
      ]);
    }
    expect(Object.keys(sim.stats().installsByInstance).length).toBe(ids.length - missing.length);
    expect((await simJson(url, `/_sim/instances/${missing[0]!}`)).body).toMatchObject({ noCloudAssistant: true });
  });

  it('Force=false leaves a running agent alone; the default Force reinstalls it', async () => {
    const { url, sim } = await simulator({ installDurationMs: 0 });
    const ids = ['i-force01'];
    await callJson(url, 'InstallMonitoringAgent', listed(ids), V2019);
    await callJson(url, 'InstallMonitoringAgent', { ...listed(ids), Force: 'false' }, V2019);
    expect(sim.stats().installsByInstance['i-force01']).toBe(1);
    await callJson(url, 'InstallMonitoringAgent', listed(ids), V2019);
    expect(sim.stats().installsByInstance['i-force01']).toBe(2);
  });

  it('InstallCommand=onlyInstallNotHasAgent installs every known host without an agent and ignores InstanceIds', async () => {
    const { url, sim } = await simulator({ installDurationMs: 0 });
    await statuses(url, ['i-known01', 'i-known02']);
    await callJson(url, 'InstallMonitoringAgent', listed(['i-known01']), V2019);
    const response = await callJson(
      url,
      'InstallMonitoringAgent',
      { InstallCommand: 'onlyInstallNotHasAgent', 'InstanceIds.1': 'i-ignored' },
      V2019,
    );
    expect(response.body.Success).toBe(true);
    expect(sim.stats().installsByInstance).toEqual({ 'i-known01': 1, 'i-known02': 1 });
  });
});

describe('DescribeMonitoringAgentStatuses', () => {
  it('up to 50 ids; 51 -> ParameterInvalid; unknown ids are left out', async () => {
    const { url } = await simulator({ notFoundRate: 0.2, seed: 'st' });
    const ids = instanceIds(50, 'i-st');
    const nodes = await statuses(url, ids);
    expect(nodes.length).toBeGreaterThan(0);
    expect(nodes.length).toBeLessThan(50);
    expect(nodes.every((node) => node.Status === 'not_installed' && node.AutoInstall)).toBe(true);
    const tooMany = await callJson(
      url,
      'DescribeMonitoringAgentStatuses',
      { InstanceIds: instanceIds(51, 'i-st').join(',') },
      V2019,
    );
    expect([tooMany.status, tooMany.body.Code]).toEqual([400, 'ParameterInvalid']);
    const none = await callJson(url, 'DescribeMonitoringAgentStatuses', {}, V2019);
    expect(none.body.Code).toBe('ParameterInvalid');
  });
});

describe('DescribeMonitoringAgentHosts', () => {
  it('pages through the hosts it knows, with Total and PageTotal, filtered by Status and KeyWord', async () => {
    const { url } = await simulator({ installDurationMs: 0 });
    const ids = instanceIds(25, 'i-host');
    await statuses(url, ids);
    await callJson(url, 'InstallMonitoringAgent', listed(ids.slice(0, 5)), V2019);

    const seen: string[] = [];
    for (let page = 1; page <= 3; page++) {
      const response = await callJson(
        url,
        'DescribeMonitoringAgentHosts',
        { PageNumber: String(page), PageSize: '10' },
        V2019,
      );
      expect(response.body).toMatchObject({ Success: true, Total: 25, PageTotal: 3, PageNumber: page, PageSize: 10 });
      seen.push(...(response.body.Hosts as { Host: { InstanceId: string }[] }).Host.map((host) => host.InstanceId));
    }
    expect(seen.sort()).toEqual([...ids].sort());

    const running = await callJson(url, 'DescribeMonitoringAgentHosts', { Status: 'Running', PageSize: '100' }, V2019);
    expect(running.body.Total).toBe(5);
    const one = await callJson(url, 'DescribeMonitoringAgentHosts', { KeyWord: ids[7]!.slice(2) }, V2019);
    expect((one.body.Hosts as { Host: { InstanceId: string }[] }).Host.map((host) => host.InstanceId)).toEqual([
      ids[7],
    ]);
    const bad = await callJson(url, 'DescribeMonitoringAgentHosts', { PageSize: '0' }, V2019);
    expect(bad.body.Code).toBe('ParameterInvalid');
  });
});

describe('versions', () => {
  it('2019-01-01 has no NodeInstall, and 2017-03-01 has no InstallMonitoringAgent: InvalidAction.NotFound', async () => {
    const { url } = await simulator();
    const noLegacy = await callJson(url, 'NodeInstall', { UserId: '1234567898765432', InstanceId: 'i-a1' }, V2019);
    expect([noLegacy.status, noLegacy.body.Code]).toEqual([404, 'InvalidAction.NotFound']);
    const noNew = await callJson(url, 'InstallMonitoringAgent', { 'InstanceIds.1': 'i-a1' }, { method: 'POST' });
    expect([noNew.status, noNew.body.Code]).toEqual([404, 'InvalidAction.NotFound']);
  });

  it('the fault scenarios apply to the 2019 actions too: errorRate500 -> 500 InternalError, nothing installed', async () => {
    const { url, sim } = await simulator({ faults: { errorRate500: 1 } });
    const response = await callJson(url, 'InstallMonitoringAgent', listed(['i-fault01']), V2019);
    expect([response.status, response.body.Code]).toEqual([500, 'InternalError']);
    expect(sim.stats().installsByInstance).toEqual({});
  });

  it('throttling applies to them too: Throttling.User past throttleQps', async () => {
    const { url } = await simulator({ faults: { throttleQps: 1 } });
    const first = await callJson(url, 'DescribeMonitoringAgentStatuses', { InstanceIds: 'i-a1' }, V2019);
    const second = await callJson(url, 'DescribeMonitoringAgentStatuses', { InstanceIds: 'i-a1' }, V2019);
    expect(first.status).toBe(200);
    expect([second.status, second.body.Code]).toEqual([400, 'Throttling.User']);
  });
});
