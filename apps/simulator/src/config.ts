import type { SimulatorOptions } from '@fleet/cms-simulator';
import { env, LOCAL_DEFAULTS, parseConfig, z } from '@fleet/config';

/** An empty variable (`SIM_HANG_RATE=`) means "not set", not zero. */
const unsetIfEmpty = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema);

/** A share in [0, 1]. */
const rate = (fallback: number) => unsetIfEmpty(z.coerce.number().min(0).max(1).default(fallback));
/** Milliseconds, >= 0. */
const millis = (fallback: number) => unsetIfEmpty(env.nonNegativeInt(fallback));

const schema = z
  .object({
    /** Port to listen on; default 8787 (LOCAL_DEFAULTS.simulatorPort). 0 picks a free port. */
    SIMULATOR_PORT: unsetIfEmpty(env.port(LOCAL_DEFAULTS.simulatorPort)),
    /** Interface to listen on; default 127.0.0.1 (loopback only). */
    SIMULATOR_HOST: unsetIfEmpty(z.string().min(1).default('127.0.0.1')),
    /** Mean answer latency, ms; default 50. */
    SIM_LATENCY_MS: millis(50),
    /** Extra latency on about 1% of answers, ms; default 0. */
    SIM_LATENCY_TAIL_MS: millis(0),
    /** Share of instances without a Server Guard agent (NodeInstall always fails); default 0.05. */
    SIM_FAILURE_RATE: rate(0.05),
    /** Share of instances whose agent ends in install_faild after an accepted NodeInstall; default 0. */
    SIM_AGENT_FAILURE_RATE: rate(0),
    /** Share of instance ids that do not exist (HTTP 404); default 0. */
    SIM_NOT_FOUND_RATE: rate(0),
    /** Time from an accepted NodeInstall until the agent runs (or fails), ms; default 2000. */
    SIM_INSTALL_DURATION_MS: millis(2000),
    /** Seed of the per-instance fate; the same seed fails the same instances; default `fleet`. */
    SIM_SEED: unsetIfEmpty(z.string().min(1).default('fleet')),
    /** Share of requests answered HTTP 500 InternalError; default 0. */
    SIM_ERROR_RATE_500: rate(0),
    /** Share of requests answered HTTP 503 ServiceUnavailable; default 0. */
    SIM_ERROR_RATE_503: rate(0),
    /** Share of requests never answered; default 0. */
    SIM_HANG_RATE: rate(0),
    /** Share of requests answered with a truncated body or an HTML 502 page; default 0. */
    SIM_MALFORMED_RATE: rate(0),
    /** Requests per second per UserId before Throttling.User; default 0 = no limit. */
    SIM_THROTTLE_QPS: unsetIfEmpty(env.nonNegativeInt(0)),
    /** The one AccessKey pair the simulator accepts; defaults to the local, non-production pair. */
    CMS_ACCESS_KEY_ID: unsetIfEmpty(z.string().min(1).default(LOCAL_DEFAULTS.accessKeyId)),
    CMS_ACCESS_KEY_SECRET: unsetIfEmpty(z.string().min(1).default(LOCAL_DEFAULTS.accessKeySecret)),
    LOG_LEVEL: unsetIfEmpty(env.logLevel()),
  })
  .transform((vars) => ({
    port: vars.SIMULATOR_PORT,
    host: vars.SIMULATOR_HOST,
    seed: vars.SIM_SEED,
    accessKeyId: vars.CMS_ACCESS_KEY_ID,
    accessKeySecret: vars.CMS_ACCESS_KEY_SECRET,
    logLevel: vars.LOG_LEVEL,
    scenario: Object.freeze({
      latencyMs: vars.SIM_LATENCY_MS,
      latencyTailMs: vars.SIM_LATENCY_TAIL_MS,
      failureRate: vars.SIM_FAILURE_RATE,
      agentFailureRate: vars.SIM_AGENT_FAILURE_RATE,
      notFoundRate: vars.SIM_NOT_FOUND_RATE,
      installDurationMs: vars.SIM_INSTALL_DURATION_MS,
      errorRate500: vars.SIM_ERROR_RATE_500,
      errorRate503: vars.SIM_ERROR_RATE_503,
      hangRate: vars.SIM_HANG_RATE,
      malformedRate: vars.SIM_MALFORMED_RATE,
      throttleQps: vars.SIM_THROTTLE_QPS,
    }),
  }));

export type SimulatorConfig = Readonly<z.output<typeof schema>>;

/** Parses the environment once; throws a ConfigError naming the first bad variable. Only main.ts passes process.env. */
export function loadConfig(environment: Record<string, string | undefined>): SimulatorConfig {
  return parseConfig(schema, environment);
}

/** What createSimulator needs from the config (the caller adds its logger). */
export function simulatorOptionsFrom(config: SimulatorConfig): SimulatorOptions {
  return {
    accessKeys: { [config.accessKeyId]: config.accessKeySecret },
    seed: config.seed,
    latencyMs: config.scenario.latencyMs,
    latencyTailMs: config.scenario.latencyTailMs,
    failureRate: config.scenario.failureRate,
    agentFailureRate: config.scenario.agentFailureRate,
    notFoundRate: config.scenario.notFoundRate,
    installDurationMs: config.scenario.installDurationMs,
    faults: {
      errorRate500: config.scenario.errorRate500,
      errorRate503: config.scenario.errorRate503,
      hangRate: config.scenario.hangRate,
      malformedRate: config.scenario.malformedRate,
      throttleQps: config.scenario.throttleQps,
    },
  };
}
