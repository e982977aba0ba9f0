/**
 * What an agent status read before any install means for an instance: a pre-check's verdict (the dry run's
 * `precheck`) and the `skipInstalled` policy's (the worker's status check before an instance's first NodeInstall).
 * Pure.
 *
 *   answered, agent running               -> skip        (skipInstalled ends it `skipped`, with no NodeInstall)
 *   answered, any other status            -> install     (not_installed, stopped, install_faild, installing, ...)
 *   answered, instance left out           -> not_found   (NodeInstall would fail as instance_not_found)
 *   not answered (error, throttled, ...)  -> unchecked   (the worker installs: NodeInstall leaves a running agent be)
 */

export type AgentPrecheck = 'skip' | 'install' | 'not_found' | 'unchecked';

export function decideAgentPrecheck(input: {
  /** The status call succeeded. */
  answered: boolean;
  /** The normalised status it reported for the instance; null when it left the instance out. */
  status: string | null;
}): AgentPrecheck {
  if (!input.answered) return 'unchecked';
  if (input.status === null) return 'not_found';
  return input.status === 'running' ? 'skip' : 'install';
}
