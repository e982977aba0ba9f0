import { describe, expect, it } from 'vitest';
import { isAgentFailingInstance, isFailingInstance, isUnknownInstance, instanceFraction } from '../src/index.ts';
import { USER_ID, callAction, callJson, simJson, sleep, useSimulators } from './support/client.ts';
import { instanceIds } from '@fleet/testing';

const simulator = useSimulators();

const install = (url: string, instanceId: string, force = 'true') =>
  callJson(url, 'NodeInstall', { UserId: USER_ID, InstanceId: instanceId, Force: force });
const status = (url: string, instanceId: string) => callJson(url, 'NodeStatus', { InstanceId: instanceId });

describe('instance fate helpers', () => {
  const ids = instanceIds(2000, 'i-bp1test');

  it('are deterministic functions of seed and instance id', () => {
    for (const id of ids.slice(0, 50)) {
      expect(isFailingInstance('fleet', id, 0.3)).toBe(isFailingInstance('fleet', id, 0.3));
      expect(instanceFraction('fleet', 'no-server-guard', id)).toBe(instanceFraction('fleet', 'no-server-guard', id));
    }
    const failingA = ids.filter((id) => isFailingInstance('seed-a', id, 0.3));
    const failingB = ids.filter((id) => isFailingInstance('seed-b', id, 0.3));
    expect(failingA).not.toEqual(failingB);
  });

  it('hit about the requested share, none at rate 0 and all at rate 1', () => {
    const share = ids.filter((id) => isFailingInstance('fleet', id, 0.05)).length / ids.length;
    expect(share).toBeGreaterThan(0.03);
    expect(share).toBeLessThan(0.07);
    expect(ids.some((id) => isFailingInstance('fleet', id, 0))).toBe(false);
    expect(ids.every((id) => isFailingInstance('fleet', id, 1))).toBe(true);
    expect(ids.every((id) => isUnknownInstance('fleet', id, 1) && isAgentFailingInstance('fleet', id, 1))).toBe(true);
  });

  it('are independent between kinds', () => {
    const failing = new Set(ids.filter((id) => isFailingInstance('fleet', id, 0.5)));
    const agentFailing = ids.filter((id) => isAgentFailingInstance('fleet', id, 0.5));
    const unknown = ids.filter((id) => isUnknownInstance('fleet', id, 0.5));
    const both = agentFailing.filter((id) => failing.has(id)).length / ids.length;
    expect(both).toBeGreaterThan(0.2);
    expect(both).toBeLessThan(0.3);
    expect(unknown).not.toEqual(agentFailing);
  });
});

describe('NodeInstall outcomes per instance', () => {
  it('fails exactly on the instances isFailingInstance names, every time, with a Server Guard message', async () => {
    const { url } = await simulator({ failureRate: 0.2, seed: 'fleet-test' });
    const ids = instanceIds(60, 'i-bp1test');
    const expectedFailing = ids.filter((id) => isFailingInstance('fleet-test', id, 0.2));
    expect(expectedFailing.length).toBeGreaterThan(3);
    expect(expectedFailing.length).toBeLessThan(30);

    for (const round of [1, 2]) {
      const failing: string[] = [];
      for (const id of ids) {
        const response = await install(url, id);
        expect(response.status).toBe(200);
        if (response.body.Success === false) {
          expect(response.body.ErrorCode).toBe(400);
          expect(response.body.ErrorMessage).toMatch(/Server Guard.*not installed or not online/);
          failing.push(id);
        } else {
          expect(response.body.ErrorCode).toBe(200);
        }
      }
      expect(failing, `round ${round}`).toEqual(expectedFailing);
    }
    const failingStatus = await status(url, expectedFailing[0]!);
    expect(failingStatus.body).toMatchObject({ Status: 'not_installed', AutoInstall: false });
  });

  it('a failing instance answers Success false in XML too', async () => {
    const { url } = await simulator({ failureRate: 1 });
    const response = await callAction(
      url,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: 'i-xmlfail1' },
      { format: 'XML' },
    );
    expect(response.status).toBe(200);
    expect(response.body).toContain('<Success>false</Success><ErrorCode>400</ErrorCode><ErrorMessage>The Server Guard');
  });

  it('an unknown instance -> 404 InvalidInstanceId.NotFound, for NodeInstall and NodeStatus', async () => {
    const { url } = await simulator({ notFoundRate: 0.3, seed: 's1' });
    const unknown = instanceIds(40, 'i-bp1test').find((id) => isUnknownInstance('s1', id, 0.3))!;
    const known = instanceIds(40, 'i-bp1test').find((id) => !isUnknownInstance('s1', id, 0.3))!;
    const response = await install(url, unknown);
    expect(response.status).toBe(404);
    expect(response.body).toMatchObject({ Code: 'InvalidInstanceId.NotFound', HostId: expect.any(String) });
    expect((await status(url, unknown)).status).toBe(404);
    expect((await install(url, known)).status).toBe(200);
  });

  it.each([
    ['InstanceId', { UserId: USER_ID, InstanceId: 'I-UPPER123' }],
    ['InstanceId', { UserId: USER_ID, InstanceId: 'bp1h4adlltjc1d48goaq' }],
    ['UserId', { UserId: '12345abc', InstanceId: 'i-abc123' }],
    ['Force', { UserId: USER_ID, InstanceId: 'i-abc123', Force: 'yes' }],
  ])('a malformed %s is an action-level error: HTTP 200, Success false, ErrorCode 400', async (name, params) => {
    const { url } = await simulator();
    const response = await callJson(url, 'NodeInstall', params);
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({
      Success: false,
      ErrorCode: 400,
      ErrorMessage: expect.stringContaining(name),
    });
  });
});

describe('install lifecycle', () => {
  it('not_installed -> installing -> running after installDurationMs', async () => {
    const { url } = await simulator({ installDurationMs: 400 });
    const id = 'i-lifecycle01';
    expect((await status(url, id)).body).toMatchObject({
      Success: true,
      ErrorCode: 200,
      InstanceId: id,
      Status: 'not_installed',
      AutoInstall: true,
    });
    expect((await install(url, id)).body.Success).toBe(true);
    expect((await status(url, id)).body.Status).toBe('installing');
    await sleep(500);
    expect((await status(url, id)).body.Status).toBe('running');
  });

  it('an agent-failing instance is accepted, then ends in install_faild', async () => {
    const { url } = await simulator({ installDurationMs: 400, agentFailureRate: 0.5, seed: 'af' });
    const id = instanceIds(40, 'i-bp1test').find((candidate) => isAgentFailingInstance('af', candidate, 0.5))!;
    expect((await install(url, id)).body.Success).toBe(true);
    expect((await status(url, id)).body.Status).toBe('installing');
    await sleep(500);
    expect((await status(url, id)).body).toMatchObject({ Status: 'install_faild', AutoInstall: true });
  });

  it('follows an injected clock without waiting', async () => {
    let clock = Date.now();
    const { url } = await simulator({ installDurationMs: 60_000, now: () => clock });
    await install(url, 'i-clock01');
    clock += 59_000;
    expect((await status(url, 'i-clock01')).body.Status).toBe('installing');
    clock += 1_000;
    expect((await status(url, 'i-clock01')).body.Status).toBe('running');
  });

  it('Force=false on a running agent is a no-op success; Force=true reinstalls', async () => {
    let clock = Date.now();
    const running = await simulator({ installDurationMs: 1_000, now: () => clock });
    const id = 'i-force01';
    await install(running.url, id);
    clock += 1_000;
    expect((await status(running.url, id)).body.Status).toBe('running');
    const noop = await install(running.url, id, 'false');
    expect(noop.body).toMatchObject({ Success: true, ErrorCode: 200 });
    expect((await status(running.url, id)).body.Status).toBe('running');
    expect(running.sim.stats().installsByInstance[id]).toBe(1);
    expect(running.sim.stats().callsByInstance[id]).toBe(2);

    await install(running.url, id, 'true');
    expect((await status(running.url, id)).body.Status).toBe('installing');
    expect(running.sim.stats().installsByInstance[id]).toBe(2);
  });

  it('Force=false while an install is under way does not start another', async () => {
    const running = await simulator({ installDurationMs: 5_000 });
    await install(running.url, 'i-force02');
    await install(running.url, 'i-force02', 'false');
    expect(running.sim.stats().installsByInstance['i-force02']).toBe(1);
  });

  it('NodeUninstall marks an installed agent uninstalled', async () => {
    const { url } = await simulator({ installDurationMs: 0 });
    await install(url, 'i-uninst01');
    expect((await status(url, 'i-uninst01')).body.Status).toBe('running');
    const response = await callJson(url, 'NodeUninstall', { InstanceId: 'i-uninst01' });
    expect(response.body).toMatchObject({ Success: true, ErrorCode: 200 });
    expect((await status(url, 'i-uninst01')).body.Status).toBe('uninstalled');
  });

  it('GET /_sim/instances/:id reports calls, installs, status, fate and RequestIds', async () => {
    const { url } = await simulator({ installDurationMs: 10_000 });
    const first = await install(url, 'i-report01');
    await install(url, 'i-report01', 'false');
    const report = await simJson(url, '/_sim/instances/i-report01');
    expect(report.status).toBe(200);
    expect(report.body).toMatchObject({
      instanceId: 'i-report01',
      status: 'installing',
      installCalls: 2,
      installs: 1,
      unknown: false,
      noServerGuard: false,
      agentFails: false,
      autoInstall: true,
    });
    expect(report.body.requestIds).toHaveLength(2);
    expect(report.body.requestIds[0]).toBe(first.body.RequestId);
  });
});

describe('NodeStatusList', () => {
  it('lists each requested instance with Status and AutoInstall, in JSON', async () => {
    const { url } = await simulator({ installDurationMs: 10_000, failureRate: 0.5, seed: 'list' });
    const ids = instanceIds(6, 'i-list');
    const failing = ids.find((id) => isFailingInstance('list', id, 0.5))!;
    const healthy = ids.find((id) => !isFailingInstance('list', id, 0.5))!;
    await install(url, healthy);
    const response = await callJson(url, 'NodeStatusList', { InstanceIds: `${healthy}, ${failing}` });
    expect(response.status).toBe(200);
    expect(response.body).toEqual({
      RequestId: expect.any(String),
      Success: true,
      ErrorCode: 200,
      ErrorMessage: '',
      NodeStatusList: {
        NodeStatus: [
          { InstanceId: healthy, Status: 'installing', AutoInstall: true },
          { InstanceId: failing, Status: 'not_installed', AutoInstall: false },
        ],
      },
    });
  });

  it('answers the XML equivalent', async () => {
    const { url } = await simulator();
    const response = await callAction(url, 'NodeStatusList', { InstanceIds: 'i-x1,i-x2' }, { format: 'XML' });
    expect(response.body).toMatch(
      new RegExp(
        /<NodeStatusListResponse><RequestId>[0-9A-F-]{36}<\/RequestId><Success>true<\/Success><ErrorCode>200<\/ErrorCode>/
          .source +
          /<NodeStatusList><NodeStatus><InstanceId>i-x1<\/InstanceId><Status>not_installed<\/Status>/.source +
          /<AutoInstall>true<\/AutoInstall><\/NodeStatus><NodeStatus><InstanceId>i-x2<\/InstanceId>/.source,
      ),
    );
  });

  it('leaves out instances that do not exist', async () => {
    const { url } = await simulator({ notFoundRate: 0.5, seed: 'nf' });
    const ids = instanceIds(10, 'i-nf');
    const response = await callJson(url, 'NodeStatusList', { InstanceIds: ids.join(',') });
    const listed = (response.body.NodeStatusList as { NodeStatus: { InstanceId: string }[] }).NodeStatus.map(
      (s) => s.InstanceId,
    );
    expect(listed).toEqual(ids.filter((id) => !isUnknownInstance('nf', id, 0.5)));
    expect(listed.length).toBeLessThan(ids.length);
  });
});
