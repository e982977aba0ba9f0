import { describe, expect, it } from 'vitest';
import { USER_ID, isoSeconds, useSimulators } from './support/client.ts';
import { openApiCall, openApiClient, popCoreClient, sdkError } from './support/sdk.ts';

/**
 * The legacy actions (2017-03-01) called through Alibaba's official SDKs, each signing with its own code: a request
 * one of them accepts that the simulator refuses, or the reverse, is a bug in the simulator.
 */

const simulator = useSimulators();
const INSTANCE = 'i-bp1h4adlltjc1d48goaq';
const OTHER = 'i-22jja5c2l';

type Json = Record<string, unknown>;

describe.each(['GET', 'POST'] as const)('@alicloud/pop-core (RPC signature 1.0) over %s', (method) => {
  it('every legacy action verifies and answers as documented', async () => {
    const { url, sim } = await simulator();
    const pop = popCoreClient(url);
    const install = await pop.request<Json>(
      'NodeInstall',
      { UserId: USER_ID, InstanceId: INSTANCE, Force: 'true' },
      { method },
    );
    expect(install).toMatchObject({ Success: true, ErrorCode: 200 });
    const status = await pop.request<Json>('NodeStatus', { InstanceId: INSTANCE }, { method });
    expect(status).toMatchObject({ Success: true, InstanceId: INSTANCE, Status: 'installing', AutoInstall: true });
    const list = await pop.request<Json>('NodeStatusList', { InstanceIds: `${INSTANCE},${OTHER}` }, { method });
    expect(list).toMatchObject({
      Success: true,
      NodeStatusList: {
        NodeStatus: [
          { InstanceId: INSTANCE, Status: 'installing' },
          { InstanceId: OTHER, Status: 'not_installed' },
        ],
      },
    });
    const uninstall = await pop.request<Json>('NodeUninstall', { InstanceId: INSTANCE }, { method });
    expect(uninstall).toMatchObject({ Success: true });
    expect(sim.stats().rejected).toBe(0);
    expect(sim.stats().installsByInstance).toEqual({ [INSTANCE]: 1 });
  });

  it('values with spaces, *, ~, parentheses and multi-byte UTF-8 verify', async () => {
    const { url, sim } = await simulator();
    const pop = popCoreClient(url);
    const answer = await pop.request<Json>(
      'NodeStatusList',
      { InstanceIds: INSTANCE, Note: "a b*c~d (x) 阿里云 !'", Empty: '' },
      { method },
    );
    expect(answer.Success).toBe(true);
    expect(sim.stats().rejected).toBe(0);
  });

  it('the wrong secret -> SignatureDoesNotMatch with the server string to sign', async () => {
    const { url } = await simulator();
    const error = await sdkError(
      popCoreClient(url, '2017-03-01', 'wrong-secret').request('NodeStatus', { InstanceId: INSTANCE }, { method }),
    );
    expect(error.code).toBe('SignatureDoesNotMatch');
    expect(error.message).toContain(`server string to sign is:${method}&%2F&AccessKeyId%3D`);
  });

  it('a replayed SignatureNonce -> SignatureNonceUsed on the second call', async () => {
    const { url } = await simulator();
    const pop = popCoreClient(url);
    const nonce = `pop-core-replay-${method}`;
    // pop-core merges the caller's parameters over its own, so a fixed nonce is signed like any parameter.
    const first = await pop.request<Json>('NodeStatus', { InstanceId: INSTANCE, SignatureNonce: nonce }, { method });
    expect(first.Success).toBe(true);
    const error = await sdkError(
      pop.request('NodeStatus', { InstanceId: INSTANCE, SignatureNonce: nonce }, { method }),
    );
    expect(error.code).toBe('SignatureNonceUsed');
  });

  it('a Timestamp 16 minutes old -> InvalidTimeStamp.Expired', async () => {
    const { url } = await simulator();
    const old = isoSeconds(Date.now() - 16 * 60_000);
    const error = await sdkError(
      popCoreClient(url).request('NodeStatus', { InstanceId: INSTANCE, Timestamp: old }, { method }),
    );
    expect(error.code).toBe('InvalidTimeStamp.Expired');
  });

  it('an unknown instance -> 404 InvalidInstanceId.NotFound, in the gateway error document', async () => {
    const { url } = await simulator({ notFoundRate: 1 });
    const error = await sdkError(popCoreClient(url).request('NodeStatus', { InstanceId: INSTANCE }, { method }));
    expect(error.code).toBe('InvalidInstanceId.NotFound');
    expect(error.data).toMatchObject({ Code: 'InvalidInstanceId.NotFound', HostId: expect.any(String) });
  });
});

describe.each([
  ['v3', 'POST', 'query'],
  ['v3', 'POST', 'body'],
  ['v3', 'GET', 'query'],
  ['v1', 'POST', 'query'],
  ['v1', 'GET', 'query'],
] as const)('@alicloud/openapi-client signing %s over %s, parameters in the %s', (signature, method, paramsIn) => {
  it('every legacy action verifies and answers as documented', async () => {
    const { url, sim } = await simulator();
    const client = openApiClient(url, signature);
    const install = await openApiCall(
      client,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: INSTANCE },
      { method, paramsIn },
    );
    expect(install.statusCode).toBe(200);
    expect(install.body).toMatchObject({ Success: true, ErrorCode: 200 });
    const status = await openApiCall(client, 'NodeStatus', { InstanceId: INSTANCE }, { method, paramsIn });
    expect(status.body).toMatchObject({ InstanceId: INSTANCE, Status: 'installing' });
    const list = await openApiCall(
      client,
      'NodeStatusList',
      { InstanceIds: `${INSTANCE},${OTHER}` },
      { method, paramsIn },
    );
    expect(list.body).toMatchObject({
      NodeStatusList: { NodeStatus: [{ InstanceId: INSTANCE }, { InstanceId: OTHER }] },
    });
    const uninstall = await openApiCall(client, 'NodeUninstall', { InstanceId: INSTANCE }, { method, paramsIn });
    expect(uninstall.body).toMatchObject({ Success: true });
    expect(sim.stats().rejected).toBe(0);
  });

  it('the wrong secret -> SignatureDoesNotMatch', async () => {
    const { url } = await simulator();
    const client = openApiClient(url, signature, 'wrong-secret');
    const error = await sdkError(openApiCall(client, 'NodeStatus', { InstanceId: INSTANCE }, { method, paramsIn }));
    expect(error.code).toBe('SignatureDoesNotMatch');
  });
});
