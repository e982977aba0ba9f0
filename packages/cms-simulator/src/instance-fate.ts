import { seededFraction } from './seeded-fraction.ts';

/**
 * Which instances misbehave, as pure functions of (seed, instance id, rate). A test computes the same answer the
 * simulator will give, without a shared table, and a given instance keeps its fate across restarts and resets.
 *
 * Each kind hashes with its own label, so the three fates are independent draws: an instance that has no Server
 * Guard agent is no more or less likely to be "unknown" than any other.
 */

export type InstanceFateKind = 'no-server-guard' | 'agent-install-fails' | 'unknown-instance' | 'no-cloud-assistant';

/** A uniform fraction in [0, 1): the top 53 bits of sha256(`${seed}:${kind}:${instanceId}`). */
export function instanceFraction(seed: string, kind: InstanceFateKind, instanceId: string): number {
  return seededFraction(`${seed}:${kind}:${instanceId}`);
}

/**
 * The instance has no Server Guard (Aegis) agent, so NodeInstall cannot reach it: every NodeInstall answers
 * Success=false and the instance needs a manual install.
 */
export function isFailingInstance(seed: string, instanceId: string, failureRate: number): boolean {
  return instanceFraction(seed, 'no-server-guard', instanceId) < failureRate;
}

/** NodeInstall is accepted, but the agent never comes up: NodeStatus ends in `install_faild`. */
export function isAgentFailingInstance(seed: string, instanceId: string, agentFailureRate: number): boolean {
  return instanceFraction(seed, 'agent-install-fails', instanceId) < agentFailureRate;
}

/**
 * The instance has no Cloud Assistant client, which InstallMonitoringAgent (2019-01-01) installs through: the call
 * is accepted, but the agent never comes up there and the instance needs Cloud Assistant (or a manual install) first.
 */
export function isNoCloudAssistantInstance(seed: string, instanceId: string, noCloudAssistantRate: number): boolean {
  return instanceFraction(seed, 'no-cloud-assistant', instanceId) < noCloudAssistantRate;
}

/** The instance id does not exist in the account: the API answers HTTP 404 InvalidInstanceId.NotFound. */
export function isUnknownInstance(seed: string, instanceId: string, notFoundRate: number): boolean {
  return instanceFraction(seed, 'unknown-instance', instanceId) < notFoundRate;
}

/**
 * `count` instance ids (`i-<tag>` and a counter) whose NodeInstall the simulator with `seed` and `failureRate` lets
 * succeed (`ok`) or always fails (`fail`): a test picks the fates it needs by computing them, as the simulator does.
 */
export function instanceIdsWithFate(
  options: { seed: string; failureRate: number; tag: string },
  count: number,
  fate: 'ok' | 'fail',
): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i += 1) {
    const id = `i-${options.tag}${i.toString(36).padStart(6, '0')}`;
    if (isFailingInstance(options.seed, id, options.failureRate) === (fate === 'fail')) ids.push(id);
  }
  return ids;
}
