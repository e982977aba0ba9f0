import { DEFAULT_SCENARIO, SCENARIO_FIELDS, type Scenario } from './scenario.ts';

/**
 * Named presets of the scenario knobs. A profile only chooses starting values: every knob can still be set on its
 * own (an option, an SIM_* variable, `POST /_sim/scenario`), and what is set wins over the profile.
 *
 * - `deterministic` (the default) is the simulator as it always was: answers arrive, 5% of instances lack the Server
 *   Guard agent, nothing else goes wrong. A rollout against it never retries.
 * - `realistic` is what a real estate meets, with rates close to the ones Alibaba states or that an operator sees:
 *   NodeInstall succeeds on about 95% of instances (the API page's own figure), the rest split between no Server
 *   Guard agent, an agent that never comes up and instances released since the inventory was taken; on top of that
 *   a few percent of calls fail transiently (503, 500, a hang past the client's timeout, a broken body), some answers
 *   are slow, and each account is held to 50 requests per second (the only CMS quota Alibaba publishes is 50 QPS).
 */
export const SCENARIO_PROFILES = Object.freeze({
  deterministic: DEFAULT_SCENARIO,
  realistic: Object.freeze({
    ...DEFAULT_SCENARIO,
    /** 3% of instances have no Server Guard agent: NodeInstall is refused every time, a manual install is needed. */
    failureRate: 0.03,
    /** 1% accept NodeInstall but the agent ends in install_faild (what the reconciler's verification catches). */
    agentFailureRate: 0.01,
    /** 0.5% of the ids no longer exist (released between inventory and rollout): 404 InvalidInstanceId.NotFound. */
    notFoundRate: 0.005,
    /** 2% of hosts lack the Cloud Assistant client that InstallMonitoringAgent needs (Alibaba: ~95% succeed). */
    noCloudAssistantRate: 0.02,
    /** 2% of calls: 503 ServiceUnavailable. */
    errorRate503: 0.02,
    /** 1% of calls: 500 InternalError. */
    errorRate500: 0.01,
    /** 0.5% of calls are never answered: the client's timeout ends them. */
    hangRate: 0.005,
    /** 0.5% of calls: a truncated body under 200 or a load balancer's HTML page under 502. */
    malformedRate: 0.005,
    /** 50 admitted requests per second per UserId, then 400 Throttling.User. */
    throttleQps: 50,
    /** About 1% of answers take an extra second: a p99 tail well inside the clients' 10 s timeout. */
    latencyTailMs: 1000,
  } satisfies Scenario),
} satisfies Record<string, Readonly<Scenario>>);

export type ScenarioProfile = keyof typeof SCENARIO_PROFILES;

export const SCENARIO_PROFILE_NAMES = Object.freeze(Object.keys(SCENARIO_PROFILES) as ScenarioProfile[]);

export const DEFAULT_SCENARIO_PROFILE: ScenarioProfile = 'deterministic';

export function isScenarioProfile(name: string): name is ScenarioProfile {
  return Object.hasOwn(SCENARIO_PROFILES, name);
}

/** The knobs whose value in `scenario` is not the one `profile` would give them, in SCENARIO_FIELDS order. */
export function scenarioOverrides(profile: ScenarioProfile, scenario: Readonly<Scenario>): (keyof Scenario)[] {
  const preset = SCENARIO_PROFILES[profile];
  return SCENARIO_FIELDS.filter((field) => scenario[field] !== preset[field]);
}
