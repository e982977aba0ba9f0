import type http from 'node:http';
import type { Logger } from '@fleet/logger';
import type { SimAccount, SimAccountView } from './accounts.ts';
import type { InstanceReport } from './instance-directory.ts';
import type { Scenario } from './scenario.ts';
import type { ScenarioProfile } from './scenario-profiles.ts';
import type { SimulatorStats } from './stats.ts';

/** What createSimulator (simulator.ts) takes and returns. */

export type SimulatorOptions = {
  /** AccessKeyId -> AccessKeySecret pairs the gateway accepts, for any UserId (the built-in pairs). */
  accessKeys: Record<string, string>;
  /** Pairs owned by one account each, with optional STS token and quota (accounts.ts). Default none. */
  accounts?: SimAccount[];
  /**
   * The preset every scenario knob starts from (scenario-profiles.ts); the options below and `faults` are applied
   * over it. Default `deterministic`.
   */
  profile?: ScenarioProfile;
  /** Mean simulated latency per API answer, ms. Default: the profile's (50). */
  latencyMs?: number;
  /** Extra latency added to about 1% of answers, ms. Default: the profile's (deterministic 0, realistic 1000). */
  latencyTailMs?: number;
  /** Share of instances without a Server Guard agent (NodeInstall fails on them every time). Default: the profile's. */
  failureRate?: number;
  /** Share of instances where NodeInstall is accepted but the agent ends in `install_faild`. Default: the profile's. */
  agentFailureRate?: number;
  /** Share of instance ids that do not exist (HTTP 404). Default: the profile's. */
  notFoundRate?: number;
  /** Time from an accepted NodeInstall until NodeStatus leaves `installing`, ms. Default: the profile's (2000). */
  installDurationMs?: number;
  /**
   * Seed of the per-instance fates (see `isFailingInstance`) and of the per-request fault draws (request-draws.ts).
   * Default `fleet`.
   */
  seed?: string;
  /** Any scenario field (fault rates, throttleQps, ...), applied over the options above. */
  faults?: Partial<Scenario>;
  /** HostId in gateway error documents. Default `metrics.cn-hangzhou.aliyuncs.com`. */
  hostId?: string;
  /** Default: a `warn`-level logger that redacts the configured secrets. */
  logger?: Logger;
  /** Epoch ms; drives timestamp checks, nonce expiry, throttling and install progress. Default `Date.now`. */
  now?: () => number;
  /**
   * Uniform [0, 1). Drives latency; when given, it also drives the injected faults in call order (tests script it).
   * Default: `Math.random` for latency, and faults drawn from the seed per (action, instance, n-th call).
   */
  random?: () => number;
};

export type Simulator = {
  /** Listens on `port` (default 0 = any free port) and `host` (default 127.0.0.1). */
  start(port?: number, host?: string): Promise<{ port: number; url: string }>;
  /** Stops listening, drops open and hung connections and pending delayed answers. Idempotent. */
  stop(): Promise<void>;
  stats(): SimulatorStats;
  /** The profile the scenario started from. */
  readonly profile: ScenarioProfile;
  /**
   * Zeroes the stats and forgets install state, nonces, throttle windows and the per-request draw counts (so the
   * same calls after a reset meet the same seeded faults again). The scenario stays.
   */
  reset(): void;
  scenario(): Scenario;
  /** Merges `partial` into the scenario and returns the result; throws ScenarioError on a bad field. */
  setScenario(partial: Partial<Scenario>): Scenario;
  /** What `GET /_sim/scenario` answers: the profile, the knobs that differ from it, and every knob's value. */
  scenarioReport(): ScenarioReport;
  instance(instanceId: string): InstanceReport;
  /** The accounts' keys (`GET /_sim/accounts`), never a secret or token. */
  accounts(): SimAccountView[];
  /**
   * Adds or replaces accounts' keys (`POST /_sim/accounts`): a list as in SIM_ACCOUNTS (or one object), checked
   * whole before any is kept; throws SimAccountsError naming the field at fault.
   */
  defineAccounts(accounts: unknown): SimAccountView[];
  readonly server: http.Server;
};

export type ScenarioReport = Scenario & {
  profile: ScenarioProfile;
  /** Knobs whose value is not the profile's, set by an option, a SIM_* variable or `POST /_sim/scenario`. */
  overrides: (keyof Scenario)[];
};
