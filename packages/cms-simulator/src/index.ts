export { createSimulator } from './simulator.ts';
export type { ScenarioReport, Simulator, SimulatorOptions } from './simulator-types.ts';
export type { SimulatorStats } from './stats.ts';
export { DEFAULT_SCENARIO, ScenarioError, SCENARIO_FIELDS, validateScenarioPatch } from './scenario.ts';
export type { Scenario } from './scenario.ts';
export {
  DEFAULT_SCENARIO_PROFILE,
  isScenarioProfile,
  SCENARIO_PROFILE_NAMES,
  SCENARIO_PROFILES,
  scenarioOverrides,
} from './scenario-profiles.ts';
export type { ScenarioProfile } from './scenario-profiles.ts';
export {
  isFailingInstance,
  isAgentFailingInstance,
  isNoCloudAssistantInstance,
  isUnknownInstance,
  instanceFraction,
  instanceIdsWithFate,
} from './instance-fate.ts';
export type { InstanceFateKind } from './instance-fate.ts';
export { AgentStatus } from './agent-lifecycle.ts';
export type { InstanceReport, InstanceFate } from './instance-directory.ts';
export { SUPPORTED_VERSIONS } from './api-versions.ts';
export { parseSimAccounts, SimAccountsError } from './accounts.ts';
export type { SimAccount, SimAccountView } from './accounts.ts';
