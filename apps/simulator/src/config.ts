import {
  DEFAULT_SCENARIO_PROFILE,
  parseSimAccounts,
  SimAccountsError,
  SCENARIO_PROFILE_NAMES,
  SCENARIO_PROFILES,
  type Scenario,
  type ScenarioProfile,
  type SimAccount,
  type SimulatorOptions,
} from '@fleet/cms-simulator';
import { env, LOCAL_DEFAULTS, parseConfig, z } from '@fleet/config';

/** An empty variable (`SIM_HANG_RATE=`) means "not set", not zero. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema);

// The scenario knobs have no default of their own: an unset one takes the value of SIM_PROFILE's preset
// (@fleet/cms-simulator's SCENARIO_PROFILES), so a set one always wins over the profile.
/** A share in [0, 1]. */
const rate = () => unsetIfEmpty(z.coerce.number().min(0).max(1).optional());
/** Milliseconds, >= 0. */
const millis = () => unsetIfEmpty(z.coerce.number().int().min(0).optional());

const profile = unsetIfEmpty(
  z
    .enum(SCENARIO_PROFILE_NAMES as [ScenarioProfile, ...ScenarioProfile[]], {
      error: (issue) =>
        `must be one of ${SCENARIO_PROFILE_NAMES.join(', ')}; got ${JSON.stringify(String(issue.input).slice(0, 40))}`,
    })
    .default(DEFAULT_SCENARIO_PROFILE),
);

/**
 * SIM_ACCOUNTS: a JSON array of `{ accessKeyId, accessKeySecret, userId, securityToken?, tokenExpiresAt?, qps? }`. A
 * message names the entry and field at fault, never a secret (the whole value is never shown: it holds secrets).
 */
const simAccounts = unsetIfEmpty(
  z
    .string()
    .optional()
    .transform((value, context): SimAccount[] => {
      if (value === undefined) return [];
      try {
        return parseSimAccounts(JSON.parse(value));
      } catch (error) {
        const message = error instanceof SimAccountsError ? error.message : 'expected a JSON array of accounts';
        context.addIssue({ code: 'custom', message });
        return z.NEVER;
      }
    }),
);

const schema = z
  .object({
    /** Port to listen on; default 8787 (LOCAL_DEFAULTS.simulatorPort). 0 picks a free port. */
    SIMULATOR_PORT: unsetIfEmpty(env.port(LOCAL_DEFAULTS.simulatorPort)),
    /** Interface to listen on; default 127.0.0.1 (loopback only). */
    SIMULATOR_HOST: unsetIfEmpty(z.string().min(1).default('127.0.0.1')),
    /**
     * The preset the knobs below start from: `deterministic` (default: only the 5% of instances without a Server
     * Guard agent fail, nothing is ever retried) or `realistic` (no-agent, 5xx, hangs, malformed bodies and
     * throttling at real-estate rates). docs/simulator.md lists both.
     */
    SIM_PROFILE: profile,
    // Each knob below defaults to the profile's value (deterministic / realistic).
    /** Mean answer latency, ms (50 / 50). */
    SIM_LATENCY_MS: millis(),
    /** Extra latency on about 1% of answers, ms (0 / 1000). */
    SIM_LATENCY_TAIL_MS: millis(),
    /** Share of instances without a Server Guard agent: NodeInstall always fails (0.05 / 0.03). */
    SIM_FAILURE_RATE: rate(),
    /** Share of instances whose agent ends in install_faild after an accepted NodeInstall (0 / 0.01). */
    SIM_AGENT_FAILURE_RATE: rate(),
    /** Share of instance ids that do not exist, HTTP 404 (0 / 0.005). */
    SIM_NOT_FOUND_RATE: rate(),
    /** Share of instances without Cloud Assistant: InstallMonitoringAgent never installs there (0 / 0.02). */
    SIM_NO_CLOUD_ASSISTANT_RATE: rate(),
    /** Time from an accepted NodeInstall until the agent runs (or fails), ms (2000 / 2000). */
    SIM_INSTALL_DURATION_MS: millis(),
    /** Seed of the instance fates and request faults; the same seed fails the same instances; default `fleet`. */
    SIM_SEED: unsetIfEmpty(z.string().min(1).default('fleet')),
    /** Share of requests answered HTTP 500 InternalError (0 / 0.01). */
    SIM_ERROR_RATE_500: rate(),
    /** Share of requests answered HTTP 503 ServiceUnavailable (0 / 0.02). */
    SIM_ERROR_RATE_503: rate(),
    /** Share of requests never answered (0 / 0.005). */
    SIM_HANG_RATE: rate(),
    /** Share of requests answered with a truncated body or an HTML 502 page (0 / 0.005). */
    SIM_MALFORMED_RATE: rate(),
    /** Requests per second per UserId before Throttling.User; 0 = no limit (0 / 50). */
    SIM_THROTTLE_QPS: unsetIfEmpty(z.coerce.number().int().min(0).optional()),
    /** The one AccessKey pair the simulator accepts; defaults to the local, non-production pair. */
    CMS_ACCESS_KEY_ID: unsetIfEmpty(z.string().min(1).default(LOCAL_DEFAULTS.accessKeyId)),
    CMS_ACCESS_KEY_SECRET: unsetIfEmpty(z.string().min(1).default(LOCAL_DEFAULTS.accessKeySecret)),
    /**
     * AccessKey pairs owned by one account each (JSON array of `{ accessKeyId, accessKeySecret, userId,
     * securityToken?, tokenExpiresAt?, qps? }`): such a key may act only for its UserId, only with its token, and its
     * account is throttled at its own qps. Unset: none (the built-in pair above acts for any UserId).
     */
    SIM_ACCOUNTS: simAccounts,
    LOG_LEVEL: unsetIfEmpty(env.logLevel()),
    /** `json` or `pretty` log lines; unset: pretty when stdout is a terminal, else JSON. */
    LOG_FORMAT: env.logFormat(),
    /** Set (to anything but the empty string): no colours in pretty log lines. */
    NO_COLOR: env.noColor(),
  })
  .transform((vars) => {
    const preset = SCENARIO_PROFILES[vars.SIM_PROFILE];
    const scenario: Scenario = {
      latencyMs: vars.SIM_LATENCY_MS ?? preset.latencyMs,
      latencyTailMs: vars.SIM_LATENCY_TAIL_MS ?? preset.latencyTailMs,
      failureRate: vars.SIM_FAILURE_RATE ?? preset.failureRate,
      agentFailureRate: vars.SIM_AGENT_FAILURE_RATE ?? preset.agentFailureRate,
      notFoundRate: vars.SIM_NOT_FOUND_RATE ?? preset.notFoundRate,
      noCloudAssistantRate: vars.SIM_NO_CLOUD_ASSISTANT_RATE ?? preset.noCloudAssistantRate,
      installDurationMs: vars.SIM_INSTALL_DURATION_MS ?? preset.installDurationMs,
      errorRate500: vars.SIM_ERROR_RATE_500 ?? preset.errorRate500,
      errorRate503: vars.SIM_ERROR_RATE_503 ?? preset.errorRate503,
      hangRate: vars.SIM_HANG_RATE ?? preset.hangRate,
      malformedRate: vars.SIM_MALFORMED_RATE ?? preset.malformedRate,
      throttleQps: vars.SIM_THROTTLE_QPS ?? preset.throttleQps,
    };
    return {
      port: vars.SIMULATOR_PORT,
      host: vars.SIMULATOR_HOST,
      seed: vars.SIM_SEED,
      accessKeyId: vars.CMS_ACCESS_KEY_ID,
      accessKeySecret: vars.CMS_ACCESS_KEY_SECRET,
      accounts: vars.SIM_ACCOUNTS,
      logLevel: vars.LOG_LEVEL,
      logFormat: vars.LOG_FORMAT,
      noColor: vars.NO_COLOR,
      profile: vars.SIM_PROFILE,
      /** The effective knobs: the profile's preset with every set SIM_* variable applied over it. */
      scenario: Object.freeze(scenario),
    };
  });

export type SimulatorConfig = Readonly<z.output<typeof schema>>;

/** Parses the environment once; throws a ConfigError naming the first bad variable. Only main.ts passes process.env. */
export function loadConfig(environment: Record<string, string | undefined>): SimulatorConfig {
  return parseConfig(schema, environment);
}

/** What createSimulator needs from the config (the caller adds its logger). */
export function simulatorOptionsFrom(config: SimulatorConfig): SimulatorOptions {
  // The whole effective scenario goes over the profile, so the simulator knows which knobs were overridden.
  return {
    accessKeys: { [config.accessKeyId]: config.accessKeySecret },
    accounts: [...config.accounts],
    seed: config.seed,
    profile: config.profile,
    faults: { ...config.scenario },
  };
}

/** The schema itself, for the test that checks docs/operations.md documents every variable it parses. */
export { schema as simulatorConfigSchema };
