import { describe, expect, it } from 'vitest';
import {
  DEFAULT_SCENARIO,
  SCENARIO_FIELDS,
  SCENARIO_PROFILES,
  ScenarioError,
  createSimulator,
  scenarioOverrides,
} from '../src/index.ts';
import { USER_ID, callAction, simJson, useSimulators } from './support/client.ts';
import { instanceIds } from '@fleet/testing';

const simulator = useSimulators();

const install = (url: string, instanceId: string) =>
  callAction(url, 'NodeInstall', { UserId: USER_ID, InstanceId: instanceId, Force: 'true' });

/** The answer of a call reduced to its status and code (or `malformed`), which is what a seeded fault decides. */
async function answers(url: string, ids: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const id of ids) {
    const response = await install(url, id);
    let code: string;
    try {
      const body = JSON.parse(response.body) as Record<string, unknown>;
      code = String(body.Code ?? body.ErrorCode);
    } catch {
      code = 'malformed';
    }
    out.push(`${response.status}:${code}`);
  }
  return out;
}

describe('scenario profiles', () => {
  it('deterministic is the default scenario, and only realistic turns on request faults and throttling', () => {
    expect(SCENARIO_PROFILES.deterministic).toEqual(DEFAULT_SCENARIO);
    expect(SCENARIO_PROFILES.realistic).toMatchObject({
      errorRate500: 0.01,
      errorRate503: 0.02,
      hangRate: 0.005,
      malformedRate: 0.005,
      throttleQps: 50,
      failureRate: 0.03,
      agentFailureRate: 0.01,
      notFoundRate: 0.005,
    });
    expect(Object.keys(SCENARIO_PROFILES.realistic).sort()).toEqual([...SCENARIO_FIELDS].sort());
  });

  it('a simulator started with a profile starts from its preset; options and faults still win over it', async () => {
    const plain = await simulator({ profile: 'realistic' });
    expect(plain.sim.profile).toBe('realistic');
    expect(plain.sim.scenario()).toEqual(SCENARIO_PROFILES.realistic);
    expect((await simJson(plain.url, '/_sim/scenario')).body).toEqual({
      profile: 'realistic',
      overrides: [],
      ...SCENARIO_PROFILES.realistic,
    });

    const tuned = await simulator({ profile: 'realistic', latencyMs: 0, faults: { throttleQps: 0, hangRate: 0 } });
    expect(tuned.sim.scenario()).toEqual({ ...SCENARIO_PROFILES.realistic, latencyMs: 0, throttleQps: 0, hangRate: 0 });
    expect(tuned.sim.scenarioReport()).toMatchObject({ overrides: ['latencyMs', 'hangRate', 'throttleQps'] });
    // A knob changed at run time back to the profile's value is no longer an override.
    tuned.sim.setScenario({ hangRate: SCENARIO_PROFILES.realistic.hangRate });
    expect(tuned.sim.scenarioReport().overrides).toEqual(['latencyMs', 'throttleQps']);
    expect(scenarioOverrides('deterministic', DEFAULT_SCENARIO)).toEqual([]);
  });

  it('an unknown profile is refused, naming the known ones', () => {
    expect(() => createSimulator({ accessKeys: {}, profile: 'chaos' as never })).toThrow(ScenarioError);
    expect(() => createSimulator({ accessKeys: {}, profile: 'chaos' as never })).toThrow(
      'unknown profile "chaos"; known: deterministic, realistic',
    );
  });
});

describe('seeded request faults', () => {
  const faults = { errorRate500: 0.2, errorRate503: 0.2, malformedRate: 0.2 };
  const ids = instanceIds(40, 'i-seeded');

  it('the same seed gives each instance the same faults, in whatever order the instances are called', async () => {
    const a = await simulator({ seed: 'draws', faults });
    const b = await simulator({ seed: 'draws', faults });
    const forward = await answers(a.url, ids);
    const backward = (await answers(b.url, [...ids].reverse())).reverse();
    expect(backward).toEqual(forward);
    // Every kind shows up, and not everywhere: these are draws, not constants.
    expect(new Set(forward.map((answer) => answer.split(':')[1]))).toEqual(
      new Set(['200', 'InternalError', 'ServiceUnavailable', 'malformed']),
    );
  });

  it('a retry of the same instance draws afresh; a reset replays the same sequence; another seed differs', async () => {
    const running = await simulator({ seed: 'draws', faults });
    const first = await answers(running.url, ids);
    const second = await answers(running.url, ids);
    expect(second).not.toEqual(first);
    running.sim.reset();
    expect(await answers(running.url, ids)).toEqual(first);
    expect(await answers(running.url, ids)).toEqual(second);

    const other = await simulator({ seed: 'other-draws', faults });
    expect(await answers(other.url, ids)).not.toEqual(first);
  });

  it('throttled requests do not use up a seeded draw', async () => {
    let clock = Date.now();
    const throttling = await simulator({ seed: 'draws', faults: { ...faults, throttleQps: 1 }, now: () => clock });
    const plain = await simulator({ seed: 'draws', faults });
    const calls = ids.slice(0, 3).flatMap((id) => Array.from({ length: 6 }, () => id));
    const expected = await answers(plain.url, calls);
    const seen: string[] = [];
    for (const id of calls) {
      clock += 1001;
      seen.push(...(await answers(throttling.url, [id])));
      // Refused by the throttle: this must not move the instance on to its next draw.
      expect(await answers(throttling.url, [id])).toEqual(['400:Throttling.User']);
    }
    expect(seen).toEqual(expected);
  });
});
