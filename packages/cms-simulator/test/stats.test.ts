import { capturingLogger } from '@fleet/testing';
import { describe, expect, it, vi } from 'vitest';
import { KEY_ID, SECRET, USER_ID, callJson, simJson, sleep, useSimulators } from './support/client.ts';

const simulator = useSimulators();

const OTHER_USER = '9999999999999999';
/** InstallMonitoringAgent's counts when it had no request (monitoring-agent.test.ts counts some). */
const NO_MONITORING_AGENT_CALLS = {
  requests: 0,
  callsByInstance: {},
  inFlight: 0,
  maxInFlight: 0,
  instancesInFlight: 0,
  maxInstancesInFlight: 0,
  maxPerSecond: 0,
};
const install = (url: string, instanceId: string, userId = USER_ID) =>
  callJson(url, 'NodeInstall', { UserId: userId, InstanceId: instanceId, Force: 'true' });

describe('stats', () => {
  it('counts requests, actions, codes and per-instance calls and installs', async () => {
    const running = await simulator({ failureRate: 1 });
    await install(running.url, 'i-st1');
    await install(running.url, 'i-st1');
    running.sim.setScenario({ failureRate: 0 });
    await install(running.url, 'i-st2');
    await callJson(running.url, 'NodeStatus', { InstanceId: 'i-st2' });
    await callJson(running.url, 'NodeInstall', { UserId: USER_ID }); // MissingInstanceId: reaches the action
    await callJson(running.url, 'NodeInstall', { UserId: USER_ID, InstanceId: 'i-st3' }, { secret: 'bad' });

    const stats = (await simJson(running.url, '/_sim/stats')).body;
    expect(stats).toEqual({
      requests: 4,
      inFlight: 0,
      maxInFlight: 1,
      inFlightByUserId: { [USER_ID]: 0 },
      maxInFlightByUserId: { [USER_ID]: 1 },
      maxPerSecondByUserId: { [USER_ID]: expect.any(Number) },
      byAction: { NodeInstall: 5, NodeStatus: 1 },
      byCode: { '400': 2, '200': 2, MissingInstanceId: 1, SignatureDoesNotMatch: 1 },
      throttled: 0,
      rejected: 1,
      callsByInstance: { 'i-st1': 2, 'i-st2': 1 },
      installsByInstance: { 'i-st2': 1 },
      monitoringAgent: NO_MONITORING_AGENT_CALLS,
      callsByAccessKeyId: { [KEY_ID]: 6 },
      maxPerSecondByAccessKeyId: { [KEY_ID]: expect.any(Number) },
      callsByUserId: { [USER_ID]: 5 },
      callsByUserIdAndAccessKeyId: { [USER_ID]: { [KEY_ID]: 5 } },
    });
    expect(running.sim.stats()).toEqual(stats);
  });

  it('maxInFlight counts concurrent NodeInstall requests overall and per UserId, until the answer is written', async () => {
    // random() = 0.5 makes every answer take exactly latencyMs, so none finishes before all have arrived.
    const running = await simulator({ latencyMs: 400, random: () => 0.5 });
    const calls = [
      ...Array.from({ length: 6 }, (_, i) => install(running.url, `i-conc${i}`, USER_ID)),
      ...Array.from({ length: 3 }, (_, i) => install(running.url, `i-concb${i}`, OTHER_USER)),
      callJson(running.url, 'NodeStatus', { InstanceId: 'i-conc0' }),
    ];
    await vi.waitFor(() => expect(running.sim.stats().inFlight).toBe(9), { timeout: 350, interval: 5 });
    const during = running.sim.stats();
    expect(during.inFlightByUserId).toEqual({ [USER_ID]: 6, [OTHER_USER]: 3 });
    await Promise.all(calls);
    // A later request at lower concurrency must not lower the recorded maxima.
    running.sim.setScenario({ latencyMs: 0 });
    await install(running.url, 'i-conc-later', USER_ID);
    const after = running.sim.stats();
    expect(after.inFlight).toBe(0);
    expect(after.maxInFlight).toBe(9);
    expect(after.maxInFlightByUserId).toEqual({ [USER_ID]: 6, [OTHER_USER]: 3 });
    expect(after.inFlightByUserId).toEqual({ [USER_ID]: 0, [OTHER_USER]: 0 });
  });

  it('maxPerSecondByUserId is the most NodeInstall arrivals of one UserId within any 1000 ms, a sliding window', async () => {
    let clock = Date.now();
    const running = await simulator({ now: () => clock });
    const at = async (ms: number, instanceId: string, userId = USER_ID) => {
      clock += ms;
      await install(running.url, instanceId, userId);
    };
    await at(0, 'i-w0');
    await at(400, 'i-w1');
    await at(400, 'i-w2'); // 0, 400, 800: three within a second
    await at(700, 'i-w3'); // 1500: the one at 0 has left the window
    await at(100, 'i-w4');
    await at(100, 'i-w5', OTHER_USER);
    await at(99, 'i-w6'); // 800, 1500, 1600, 1799: four, and 800 is still in (799, 1799]
    expect(running.sim.stats().maxPerSecondByUserId).toEqual({ [USER_ID]: 4, [OTHER_USER]: 1 });
    await at(1, 'i-w7'); // 1800: 800 has left, 1500, 1600, 1799, 1800 are four again
    expect(running.sim.stats().maxPerSecondByUserId).toEqual({ [USER_ID]: 4, [OTHER_USER]: 1 });
    await at(1, 'i-w8');
    expect(running.sim.stats().maxPerSecondByUserId).toEqual({ [USER_ID]: 5, [OTHER_USER]: 1 });
  });

  it('maxPerSecondByAccessKeyId is the most calls of one AccessKeyId within any 1000 ms, every action together', async () => {
    let clock = Date.now();
    const running = await simulator({ now: () => clock });
    const at = async (ms: number, call: () => Promise<unknown>) => {
      clock += ms;
      await call();
    };
    await at(0, () => install(running.url, 'i-k0'));
    await at(300, () => callJson(running.url, 'NodeStatusList', { InstanceIds: 'i-k0' }));
    await at(300, () =>
      callJson(running.url, 'NodeInstall', { UserId: OTHER_USER, InstanceId: 'i-k1', Force: 'true' }),
    );
    await at(300, () => callJson(running.url, 'NodeStatus', { InstanceId: 'i-k1' })); // 0, 300, 600, 900: four
    await at(200, () => install(running.url, 'i-k2')); // 1100: the one at 0 has left; four again
    const stats = running.sim.stats();
    expect(stats.maxPerSecondByAccessKeyId).toEqual({ [KEY_ID]: 4 });
    // The UserId's count sees only its NodeInstall calls: 0 and 1100 are in no one second together.
    expect(stats.maxPerSecondByUserId).toEqual({ [USER_ID]: 1, [OTHER_USER]: 1 });
  });

  it('sequential requests never overlap: maxInFlight stays 1', async () => {
    const running = await simulator({ latencyMs: 5 });
    for (let i = 0; i < 5; i++) await install(running.url, `i-seq${i}`);
    expect(running.sim.stats().maxInFlight).toBe(1);
  });
});

describe('reset', () => {
  it('POST /_sim/reset zeroes the stats and forgets installs and nonces, keeping the scenario', async () => {
    const running = await simulator({ installDurationMs: 10_000, faults: { throttleQps: 100 } });
    await install(running.url, 'i-rs1');
    await callJson(running.url, 'NodeStatus', { InstanceId: 'i-rs1' }, { nonce: 'reused-after-reset' });
    expect(running.sim.instance('i-rs1').status).toBe('installing');

    const response = await simJson(running.url, '/_sim/reset', { method: 'POST' });
    expect(response.status).toBe(204);
    expect(running.sim.stats()).toEqual({
      requests: 0,
      inFlight: 0,
      maxInFlight: 0,
      inFlightByUserId: {},
      maxInFlightByUserId: {},
      maxPerSecondByUserId: {},
      byAction: {},
      byCode: {},
      throttled: 0,
      rejected: 0,
      callsByInstance: {},
      installsByInstance: {},
      monitoringAgent: NO_MONITORING_AGENT_CALLS,
      callsByAccessKeyId: {},
      maxPerSecondByAccessKeyId: {},
      callsByUserId: {},
      callsByUserIdAndAccessKeyId: {},
    });
    expect(running.sim.instance('i-rs1')).toMatchObject({
      status: 'not_installed',
      installCalls: 0,
      installs: 0,
      requestIds: [],
    });
    expect(
      (await callJson(running.url, 'NodeStatus', { InstanceId: 'i-rs1' }, { nonce: 'reused-after-reset' })).status,
    ).toBe(200);
    expect(running.sim.scenario().throttleQps).toBe(100);
  });

  it('reset() keeps requests still in flight counted', async () => {
    const running = await simulator({ latencyMs: 400, random: () => 0.5 });
    const pending = install(running.url, 'i-rsf');
    await vi.waitFor(() => expect(running.sim.stats().inFlight).toBe(1), { timeout: 350, interval: 5 });
    running.sim.reset();
    expect(running.sim.stats()).toMatchObject({ inFlight: 1, maxInFlight: 1, inFlightByUserId: { [USER_ID]: 1 } });
    await pending;
    expect(running.sim.stats().inFlight).toBe(0);
  });
});

describe('logging', () => {
  it('never writes the AccessKey secret, even at debug level and on signature errors', async () => {
    const { logger, lines } = capturingLogger({ service: 'cms-simulator-test', secrets: [SECRET] });
    const running = await simulator({ logger });
    await install(running.url, 'i-log1');
    await callJson(
      running.url,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: 'i-log2' },
      { secret: 'bad-secret-value' },
    );
    running.sim.setScenario({ latencyMs: 0 });
    await running.sim.stop();
    await sleep(20);
    const text = lines.join('');
    expect(text).toContain('"code":"SignatureDoesNotMatch"');
    expect(text).toContain('i-log1');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('Signature=');
  });
});
