import { createCmsClient, type CmsClient, type HttpMethod, type SignatureVersion } from '@fleet/cms-client';
import { afterEach, describe, expect, it } from 'vitest';
import { KEY_ID, SECRET, USER_ID, useSimulators } from './support/client.ts';

/**
 * The production client (@fleet/cms-client) against the simulator's own verifiers: every way the client can sign
 * (v1 or v3, GET or POST) must verify the way the gateway verifies, with no signing code shared between the two.
 */

const simulator = useSimulators();
const clients: CmsClient[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((client) => client.close()));
});

function clientFor(url: string, signatureVersion: SignatureVersion, method: HttpMethod, secret = SECRET): CmsClient {
  const client = createCmsClient({
    endpoint: url,
    credentials: { accessKeyId: KEY_ID, accessKeySecret: secret },
    signatureVersion,
    method,
    timeoutMs: 5000,
  });
  clients.push(client);
  return client;
}

const WAYS = [
  ['v1', 'GET'],
  ['v1', 'POST'],
  ['v3', 'GET'],
  ['v3', 'POST'],
] as const;

describe.each(WAYS)('the client signing %s over %s', (signatureVersion, method) => {
  it('NodeInstall, NodeStatus, NodeStatusList and NodeUninstall verify and reach their actions', async () => {
    const { url, sim } = await simulator();
    const cms = clientFor(url, signatureVersion, method);
    const install = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-bp1h4adlltjc1d48goaq', force: true });
    expect(install.outcome).toEqual({ kind: 'success' });
    const status = await cms.nodeStatus({ instanceId: 'i-bp1h4adlltjc1d48goaq' });
    expect(status.status).toBe('installing');
    const list = await cms.nodeStatusList({ instanceIds: ['i-bp1h4adlltjc1d48goaq', 'i-22jja5c2l'] });
    expect([...list.statuses.entries()].sort()).toEqual([
      ['i-22jja5c2l', 'not_installed'],
      ['i-bp1h4adlltjc1d48goaq', 'installing'],
    ]);
    const uninstall = await cms.nodeUninstall({ instanceId: 'i-bp1h4adlltjc1d48goaq' });
    expect(uninstall.outcome).toEqual({ kind: 'success' });
    expect(sim.stats().rejected).toBe(0);
    expect(sim.stats().byAction).toEqual({ NodeInstall: 1, NodeStatus: 1, NodeStatusList: 1, NodeUninstall: 1 });
  });

  it('values with spaces, *, ~, an empty value and multi-byte UTF-8 verify', async () => {
    const { url, sim } = await simulator();
    const cms = clientFor(url, signatureVersion, method);
    const result = await cms.call('NodeStatusList', {
      InstanceIds: 'i-a1,i-b2',
      Note: "a b*c~d (x) 阿里云 !'",
      Empty: '',
      Tags: ['first one', 'second*', '云'],
    });
    expect(result.outcome).toEqual({ kind: 'success' });
    expect(sim.stats().rejected).toBe(0);
  });

  it('InstallMonitoringAgent and DescribeMonitoringAgentStatuses (2019-01-01) verify and reach their actions', async () => {
    const { url, sim } = await simulator({ faults: { noCloudAssistantRate: 0.5 }, seed: 'client-2019' });
    const cms = clientFor(url, signatureVersion, method);
    const ids = Array.from({ length: 10 }, (_, i) => `i-client2019${i}`);
    const install = await cms.installMonitoringAgent({ instanceIds: ids, force: true });
    expect(install.outcome).toEqual({ kind: 'success' });
    expect(install.instanceIds).toEqual(ids);
    const statuses = await cms.describeMonitoringAgentStatuses({ instanceIds: ids });
    expect(statuses.unresolved).toEqual([]);
    const nodes = statuses.chunks.flatMap((chunk) => chunk.nodes);
    // Hosts without Cloud Assistant got nothing and say so; the others are installing.
    for (const node of nodes) expect(node.status).toBe(node.autoInstall ? 'installing' : 'not_installed');
    expect(nodes.some((node) => node.autoInstall === false)).toBe(true);
    expect(sim.stats().rejected).toBe(0);
    expect(sim.stats().byAction).toEqual({ InstallMonitoringAgent: 1, DescribeMonitoringAgentStatuses: 1 });
    expect(sim.instance(ids[0]!).requestIds).toEqual([install.requestId]);
  });

  it('signed with the wrong secret -> SignatureDoesNotMatch, a fleet-wide outcome', async () => {
    const { url } = await simulator();
    const cms = clientFor(url, signatureVersion, method, 'wrong-secret');
    const result = await cms.nodeStatus({ instanceId: 'i-bp1h4adlltjc1d48goaq' });
    expect(result.errorCode).toBe('SignatureDoesNotMatch');
    expect(result.outcome.kind).toBe('fleet_wide');
  });

  it('an exact replay (same nonce and date) is refused with SignatureNonceUsed: the first copy arrived', async () => {
    const { url } = await simulator();
    const cms = clientFor(url, signatureVersion, method);
    const exactSigning = { nonce: `replay-${signatureVersion}-${method}`, timestamp: new Date() };
    const input = { userId: USER_ID, instanceId: 'i-bp1h4adlltjc1d48goaq', exactSigning };
    const first = await cms.nodeInstall(input);
    const replay = await cms.nodeInstall(input);
    expect(first.outcome).toEqual({ kind: 'success' });
    expect(replay.errorCode).toBe('SignatureNonceUsed');
  });
});

describe('the client signing v3 with an STS token', () => {
  it('sends x-acs-security-token among the signed headers and verifies', async () => {
    const { url, sim } = await simulator();
    const cms = createCmsClient({
      endpoint: url,
      credentials: { accessKeyId: KEY_ID, accessKeySecret: SECRET, securityToken: 'sts token/+=' },
      signatureVersion: 'v3',
    });
    clients.push(cms);
    const result = await cms.nodeStatus({ instanceId: 'i-bp1h4adlltjc1d48goaq' });
    expect(result.outcome).toEqual({ kind: 'success' });
    expect(sim.stats().rejected).toBe(0);
  });

  it("an STS account's token is checked from the header: the right one passes, another is refused", async () => {
    const sts = { accessKeyId: 'STS.v3key01', accessKeySecret: 'sts-secret', securityToken: 'token-of-v3' };
    const { url } = await simulator({ accounts: [{ ...sts, userId: USER_ID }] });
    const withToken = (securityToken: string) => {
      const cms = createCmsClient({ endpoint: url, credentials: { ...sts, securityToken }, signatureVersion: 'v3' });
      clients.push(cms);
      return cms.nodeInstall({ userId: USER_ID, instanceId: 'i-bp1h4adlltjc1d48goaq' });
    };
    expect((await withToken('token-of-v3')).outcome).toEqual({ kind: 'success' });
    expect((await withToken('another-token')).errorCode).toBe('InvalidSecurityToken.Mismatch');
  });
});
