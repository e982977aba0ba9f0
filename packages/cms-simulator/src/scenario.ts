import { FleetError } from '@fleet/errors';

/**
 * Everything about the simulator's behaviour that can change while it runs (options at start, then
 * `setScenario()` / `POST /_sim/scenario`). Rates are shares in [0, 1]; durations are milliseconds.
 */
export type Scenario = {
  /** Mean simulated latency of an API answer, ms. Each answer waits uniformly between 0.5x and 1.5x. Default 50. */
  latencyMs: number;
  /** Extra latency, ms, added to about 1% of answers (a p99 tail). Default 0. */
  latencyTailMs: number;
  /** Share of API requests answered HTTP 500 `InternalError`. Default 0. */
  errorRate500: number;
  /** Share of API requests answered HTTP 503 `ServiceUnavailable`. Default 0. */
  errorRate503: number;
  /** Share of API requests never answered, until the client or stop() closes the socket. Default 0. */
  hangRate: number;
  /** Share of API requests answered with a truncated body (HTTP 200) or an HTML error page (HTTP 502). Default 0. */
  malformedRate: number;
  /** Admitted requests per second per UserId; above it HTTP 400 `Throttling.User`. 0 turns it off. Default 0. */
  throttleQps: number;
  /** Share of instances without a Server Guard agent: NodeInstall fails on them every time. Default 0.05. */
  failureRate: number;
  /** Share of instances where NodeInstall is accepted but the agent ends in `install_faild`. Default 0. */
  agentFailureRate: number;
  /** Share of instance ids that do not exist: HTTP 404 `InvalidInstanceId.NotFound`. Default 0. */
  notFoundRate: number;
  /**
   * Share of instances without the Cloud Assistant client: InstallMonitoringAgent (2019-01-01) cannot reach them, so
   * their agent never comes up and DescribeMonitoringAgentStatuses reports AutoInstall false. Default 0.
   */
  noCloudAssistantRate: number;
  /** Time from an accepted NodeInstall until NodeStatus leaves `installing`, ms. Default 2000. */
  installDurationMs: number;
};

export const DEFAULT_SCENARIO: Readonly<Scenario> = Object.freeze({
  latencyMs: 50,
  latencyTailMs: 0,
  errorRate500: 0,
  errorRate503: 0,
  hangRate: 0,
  malformedRate: 0,
  throttleQps: 0,
  failureRate: 0.05,
  agentFailureRate: 0,
  notFoundRate: 0,
  noCloudAssistantRate: 0,
  installDurationMs: 2000,
});

type FieldRule = 'rate' | 'duration' | 'qps';

const RULES: Readonly<Record<keyof Scenario, FieldRule>> = {
  latencyMs: 'duration',
  latencyTailMs: 'duration',
  errorRate500: 'rate',
  errorRate503: 'rate',
  hangRate: 'rate',
  malformedRate: 'rate',
  throttleQps: 'qps',
  failureRate: 'rate',
  agentFailureRate: 'rate',
  notFoundRate: 'rate',
  noCloudAssistantRate: 'rate',
  installDurationMs: 'duration',
};

export const SCENARIO_FIELDS = Object.keys(RULES) as (keyof Scenario)[];

/** A scenario patch that does not fit: unknown field, wrong type or out of range. */
export class ScenarioError extends FleetError {
  override name = 'ScenarioError';
  constructor(message: string) {
    super('scenario_invalid', message);
  }
}

function isScenarioField(name: string): name is keyof Scenario {
  return Object.hasOwn(RULES, name);
}

/** Checks a partial scenario from an untrusted source (JSON body, options) and returns it typed. */
export function validateScenarioPatch(input: unknown): Partial<Scenario> {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ScenarioError('a scenario must be a JSON object');
  }
  const patch: Partial<Scenario> = {};
  for (const [name, value] of Object.entries(input)) {
    if (value === undefined) continue;
    if (!isScenarioField(name)) {
      throw new ScenarioError(`unknown scenario field "${name}"; known: ${SCENARIO_FIELDS.join(', ')}`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new ScenarioError(`${name} must be a finite number`);
    }
    const rule = RULES[name];
    if (rule === 'rate' && (value < 0 || value > 1)) throw new ScenarioError(`${name} must be between 0 and 1`);
    if (rule === 'duration' && value < 0) throw new ScenarioError(`${name} must be >= 0 (milliseconds)`);
    if (rule === 'qps' && (value < 0 || !Number.isInteger(value))) {
      throw new ScenarioError(`${name} must be a whole number >= 0 (0 = off)`);
    }
    patch[name] = value;
  }
  return patch;
}
