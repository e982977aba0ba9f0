import { describe, expect, it } from 'vitest';
import { cms, cms20190101Client, openApiCall, openApiClient, sdkError } from './support/sdk.ts';
import { useSimulators } from './support/client.ts';

/**
 * The 2019-01-01 actions through @alicloud/cms20190101 (Alibaba's CMS SDK, on @alicloud/openapi-core), signing V3
 * by default and v1 where it allows (signatureAlgorithm 'v2'), and through @alicloud/openapi-client's generic call.
 */

const simulator = useSimulators();
const IDS = ['i-sdk2019a1', 'i-sdk2019a2', 'i-sdk2019a3'];

describe.each(['v3', 'v1'] as const)('@alicloud/cms20190101 signing %s', (signature) => {
  it('InstallMonitoringAgent with InstanceIds.1..N and Force, then DescribeMonitoringAgentStatuses', async () => {
    const { url, sim } = await simulator({ installDurationMs: 60_000 });
    const client = cms20190101Client(url, signature);
    const install = await client.installMonitoringAgent(
      new cms.InstallMonitoringAgentRequest({ instanceIds: IDS, force: true }),
    );
    expect(install.statusCode).toBe(200);
    expect(install.body).toMatchObject({ code: '200', success: true });
    expect(install.body?.requestId).toMatch(/^[0-9A-F-]{36}$/);
    expect(Object.keys(sim.stats().installsByInstance).sort()).toEqual(IDS);

    const statuses = await client.describeMonitoringAgentStatuses(
      new cms.DescribeMonitoringAgentStatusesRequest({ instanceIds: IDS.join(',') }),
    );
    expect(statuses.body?.success).toBe(true);
    expect(
      statuses.body?.nodeStatusList?.nodeStatus?.map((node) => [node.instanceId, node.status, node.autoInstall]),
    ).toEqual(IDS.map((id) => [id, 'installing', true]));
    expect(sim.stats().rejected).toBe(0);
  });

  it('DescribeMonitoringAgentHosts pages with PageNumber and PageSize', async () => {
    const { url } = await simulator();
    const client = cms20190101Client(url, signature);
    await client.describeMonitoringAgentStatuses(
      new cms.DescribeMonitoringAgentStatusesRequest({ instanceIds: IDS.join(',') }),
    );
    const page = await client.describeMonitoringAgentHosts(
      new cms.DescribeMonitoringAgentHostsRequest({ pageNumber: 2, pageSize: 2 }),
    );
    expect(page.body).toMatchObject({ success: true, total: 3, pageNumber: 2, pageSize: 2, pageTotal: 2 });
    expect(page.body?.hosts?.host?.map((host) => host.instanceId)).toEqual([IDS[2]]);
  });

  it('11 instances -> the SDK throws ParameterInvalid (HTTP 400)', async () => {
    const { url } = await simulator();
    const ids = Array.from({ length: 11 }, (_, i) => `i-sdk2019b${i}`);
    const error = await sdkError(
      cms20190101Client(url, signature).installMonitoringAgent(
        new cms.InstallMonitoringAgentRequest({ instanceIds: ids }),
      ),
    );
    expect(error.code).toBe('ParameterInvalid');
  });

  it('the wrong secret -> the SDK throws SignatureDoesNotMatch', async () => {
    const { url } = await simulator();
    const error = await sdkError(
      cms20190101Client(url, signature, 'wrong-secret').describeMonitoringAgentStatuses(
        new cms.DescribeMonitoringAgentStatusesRequest({ instanceIds: IDS[0] }),
      ),
    );
    expect(error.code).toBe('SignatureDoesNotMatch');
  });
});

describe('@alicloud/openapi-client, V3, the 2019-01-01 actions with a form body', () => {
  it('InstallMonitoringAgent and DescribeMonitoringAgentStatuses verify with the parameters in the body', async () => {
    const { url, sim } = await simulator({ installDurationMs: 0 });
    const client = openApiClient(url, 'v3');
    const body = Object.fromEntries(IDS.map((id, i) => [`InstanceIds.${i + 1}`, id]));
    const install = await openApiCall(client, 'InstallMonitoringAgent', body, {
      version: '2019-01-01',
      paramsIn: 'body',
    });
    expect(install.body).toMatchObject({ Code: '200', Success: true });
    const statuses = await openApiCall(
      client,
      'DescribeMonitoringAgentStatuses',
      { InstanceIds: IDS.join(',') },
      { version: '2019-01-01', paramsIn: 'body' },
    );
    expect(statuses.body).toMatchObject({
      NodeStatusList: { NodeStatus: IDS.map((id) => ({ InstanceId: id, Status: 'running' })) },
    });
    expect(sim.stats().rejected).toBe(0);
  });
});
