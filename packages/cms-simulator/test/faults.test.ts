import http from 'node:http';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SCENARIO } from '../src/index.ts';
import {
  USER_ID,
  callAction,
  callJson,
  encodeParams,
  rawRequest,
  signedParams,
  simJson,
  sleep,
  startSimulator,
  useSimulators,
} from './support/client.ts';

const simulator = useSimulators();

const installParams = (instanceId: string, userId = USER_ID) => ({
  UserId: userId,
  InstanceId: instanceId,
  Force: 'true',
});

/** A random() that replays `values` in order, then 0.99 forever. */
function scripted(...values: number[]): () => number {
  return () => values.shift() ?? 0.99;
}

describe('throttling', () => {
  it('above throttleQps per UserId -> 400 Throttling.User; another UserId is not affected; the window slides', async () => {
    let clock = Date.now();
    const running = await simulator({ faults: { throttleQps: 3 }, now: () => clock });
    const codes: (string | number)[] = [];
    for (let i = 0; i < 5; i++) {
      clock += 100;
      const response = await callJson(running.url, 'NodeInstall', installParams(`i-thr${i}`));
      codes.push(response.status === 200 ? 200 : (response.body.Code as string));
      if (response.status !== 200) {
        expect(response.status).toBe(400);
        expect(response.body.Message).toBe('Request was denied due to user flow control.');
      }
    }
    expect(codes).toEqual([200, 200, 200, 'Throttling.User', 'Throttling.User']);
    const other = await callJson(running.url, 'NodeInstall', installParams('i-throther', '2222222222222222'));
    expect(other.status).toBe(200);

    const stats = running.sim.stats();
    expect(stats.throttled).toBe(2);
    expect(stats.rejected).toBe(2);
    expect(stats.byCode['Throttling.User']).toBe(2);
    expect(stats.requests).toBe(4);

    // The first admitted request was at +100 ms; at +1100 ms it has left the window, the other two have not.
    clock += 600;
    expect((await callJson(running.url, 'NodeInstall', installParams('i-thrlater1'))).status).toBe(200);
    expect((await callJson(running.url, 'NodeInstall', installParams('i-thrlater2'))).body.Code).toBe(
      'Throttling.User',
    );
  });

  it('throttleQps 0 means no limit', async () => {
    const { url } = await simulator({ faults: { throttleQps: 0 } });
    for (let i = 0; i < 20; i++)
      expect((await callJson(url, 'NodeInstall', installParams(`i-free${i}`))).status).toBe(200);
  });
});

describe('injected server errors', () => {
  it('errorRate500 = 1 -> every request 500 InternalError, and nothing is installed', async () => {
    const running = await simulator({ faults: { errorRate500: 1 } });
    const response = await callJson(running.url, 'NodeInstall', installParams('i-e500'));
    expect(response.status).toBe(500);
    expect(response.body).toMatchObject({
      Code: 'InternalError',
      RequestId: expect.any(String),
      HostId: expect.any(String),
    });
    expect(running.sim.stats()).toMatchObject({
      requests: 1,
      callsByInstance: { 'i-e500': 1 },
      installsByInstance: {},
      byCode: { InternalError: 1 },
    });
    expect(running.sim.instance('i-e500').status).toBe('not_installed');
  });

  it('errorRate503 = 1 -> every request 503 ServiceUnavailable, in XML when asked', async () => {
    const { url } = await simulator({ faults: { errorRate503: 1 } });
    const response = await callAction(url, 'NodeStatus', { InstanceId: 'i-e503' }, { format: 'XML' });
    expect(response.status).toBe(503);
    expect(response.body).toContain('<Code>ServiceUnavailable</Code>');
  });

  it('rates between 0 and 1 follow the injected random()', async () => {
    // draws: 500? (0.1 < 0.5 yes) | 500? (0.9 no), 503? (0.1 < 0.5 yes) | 500? no, 503? no -> answered
    const { url } = await simulator({
      faults: { errorRate500: 0.5, errorRate503: 0.5 },
      random: scripted(0.1, 0.9, 0.1, 0.9, 0.9),
    });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await callJson(url, 'NodeStatus', { InstanceId: 'i-rates' })).status);
    expect(statuses).toEqual([500, 503, 200]);
  });
});

describe('malformed answers', () => {
  it('malformedRate = 1 with a low draw -> HTTP 200 with a truncated body that does not parse, but the install happened', async () => {
    const running = await simulator({ faults: { malformedRate: 1 }, random: scripted(0, 0.2) });
    const response = await callAction(running.url, 'NodeInstall', installParams('i-trunc'));
    expect(response.status).toBe(200);
    expect(response.body.length).toBeGreaterThan(0);
    expect(() => JSON.parse(response.body)).toThrow();
    expect(response.body.startsWith('{"RequestId":"')).toBe(true);
    expect(running.sim.stats().installsByInstance['i-trunc']).toBe(1);
    expect(running.sim.stats().byCode.Malformed).toBe(1);
  });

  it('malformedRate = 1 with a high draw -> HTTP 502 with an HTML error page', async () => {
    const { url } = await simulator({ faults: { malformedRate: 1 }, random: scripted(0, 0.7) });
    const response = await callAction(url, 'NodeInstall', installParams('i-html'));
    expect(response.status).toBe(502);
    expect(response.headers['content-type']).toMatch(/text\/html/);
    expect(response.body).toContain('<h1>502 Bad Gateway</h1>');
  });
});

describe('hanging requests', () => {
  it('hangRate = 1 -> no answer; the client aborts; the request leaves inFlight; stop() returns promptly', async () => {
    const running = await simulator({ faults: { hangRate: 1 } });
    const controller = new AbortController();
    const pending = rawRequest(
      `${running.url}?${encodeParams(signedParams('NodeInstall', installParams('i-hang1')))}`,
      {
        signal: controller.signal,
      },
    );
    await vi.waitFor(() =>
      expect(running.sim.stats()).toMatchObject({ inFlight: 1, requests: 1, byCode: { Hang: 1 } }),
    );
    controller.abort();
    await expect(pending).rejects.toThrow();
    await vi.waitFor(() => expect(running.sim.stats().inFlight).toBe(0));

    // A second hung request left open, plus an idle keep-alive connection: stop() must not wait for either.
    const agent = new http.Agent({ keepAlive: true });
    running.sim.setScenario({ hangRate: 0 });
    expect((await rawRequest(`${running.url}_sim/stats`, { agent })).status).toBe(200);
    running.sim.setScenario({ hangRate: 1 });
    const stillHanging = rawRequest(
      `${running.url}?${encodeParams(signedParams('NodeInstall', installParams('i-hang2')))}`,
    ).catch((error: Error) => error);
    await sleep(50);
    const before = Date.now();
    await running.sim.stop();
    expect(Date.now() - before).toBeLessThan(500);
    expect(await stillHanging).toBeInstanceOf(Error);
    expect(running.sim.server.listening).toBe(false);
    agent.destroy();
  });

  it('stop() drops answers still waiting out their latency and is idempotent', async () => {
    const running = await simulator({ latencyMs: 10_000 });
    const pending = callAction(running.url, 'NodeStatus', { InstanceId: 'i-slow' }).catch((error: Error) => error);
    await sleep(50);
    const before = Date.now();
    await Promise.all([running.sim.stop(), running.sim.stop()]);
    await running.sim.stop();
    expect(Date.now() - before).toBeLessThan(500);
    expect(await pending).toBeInstanceOf(Error);
  });
});

describe('latency', () => {
  it('answers take between 0.5x and 1.5x latencyMs, plus the tail when drawn', async () => {
    // Draws per request: latency fraction, then the tail draw.
    const { url } = await simulator({
      latencyMs: 100,
      latencyTailMs: 300,
      random: scripted(0, 0.5, 1, 0.5, 0.5, 0.001),
    });
    const timings: number[] = [];
    for (let i = 0; i < 3; i++) {
      const before = performance.now();
      await callAction(url, 'NodeStatus', { InstanceId: 'i-lat' });
      timings.push(performance.now() - before);
    }
    expect(timings[0]).toBeGreaterThanOrEqual(45);
    expect(timings[0]).toBeLessThan(140);
    expect(timings[1]).toBeGreaterThanOrEqual(145);
    expect(timings[1]).toBeLessThan(300);
    expect(timings[2]).toBeGreaterThanOrEqual(395);
  });
});

describe('scenario control', () => {
  it('GET /_sim/scenario returns the profile, its overrides and the whole scenario; POST merges a partial one and answers the result', async () => {
    const running = await simulator({ latencyMs: 0, failureRate: 0 });
    const initial = await simJson(running.url, '/_sim/scenario');
    expect(initial.body).toEqual({
      profile: 'deterministic',
      overrides: ['latencyMs', 'failureRate'],
      ...DEFAULT_SCENARIO,
      latencyMs: 0,
      failureRate: 0,
    });

    const updated = await simJson(running.url, '/_sim/scenario', {
      method: 'POST',
      body: { errorRate503: 1, throttleQps: 10 },
    });
    expect(updated.status).toBe(200);
    expect(updated.body).toEqual({
      ...initial.body,
      overrides: ['latencyMs', 'errorRate503', 'throttleQps', 'failureRate'],
      errorRate503: 1,
      throttleQps: 10,
    });
    expect(running.sim.scenarioReport()).toEqual(updated.body);
    expect(running.sim.scenario()).toEqual({
      ...DEFAULT_SCENARIO,
      latencyMs: 0,
      failureRate: 0,
      errorRate503: 1,
      throttleQps: 10,
    });
    expect((await callJson(running.url, 'NodeStatus', { InstanceId: 'i-sc1' })).status).toBe(503);

    await simJson(running.url, '/_sim/scenario', { method: 'POST', body: { errorRate503: 0 } });
    expect((await callJson(running.url, 'NodeStatus', { InstanceId: 'i-sc1' })).status).toBe(200);
  });

  it.each([
    [{ errorRate500: 2 }, /errorRate500/],
    [{ latencyMs: -1 }, /latencyMs/],
    [{ throttleQps: 1.5 }, /throttleQps/],
    [{ failureRate: '0.5' }, /failureRate/],
    [{ nonsense: 1 }, /unknown scenario field "nonsense"/],
    [[1, 2], /JSON object/],
  ])('POST /_sim/scenario with %j -> 400 naming the problem, scenario unchanged', async (body, message) => {
    const running = await simulator();
    const before = running.sim.scenario();
    const response = await simJson(running.url, '/_sim/scenario', { method: 'POST', body });
    expect(response.status).toBe(400);
    expect(response.body.error).toMatch(message);
    expect(running.sim.scenario()).toEqual(before);
  });

  it('setScenario() rejects bad values too, and createSimulator rejects bad options', async () => {
    const running = await simulator();
    expect(() => running.sim.setScenario({ hangRate: -0.1 })).toThrow(/hangRate/);
    await expect(startSimulator({ failureRate: 5 })).rejects.toThrow(/failureRate/);
  });

  it('changing failureRate at run time changes which instances fail', async () => {
    const running = await simulator({ failureRate: 0 });
    expect((await callJson(running.url, 'NodeInstall', installParams('i-rt1'))).body.Success).toBe(true);
    running.sim.setScenario({ failureRate: 1 });
    expect((await callJson(running.url, 'NodeInstall', installParams('i-rt2'))).body.Success).toBe(false);
  });

  it('an unknown control path -> 404 listing the endpoints', async () => {
    const running = await simulator();
    const response = await simJson(running.url, '/_sim/nothing');
    expect(response.status).toBe(404);
    expect(response.body.endpoints).toContain('GET /_sim/stats');
  });
});
