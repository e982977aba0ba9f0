/**
 * The CloudMonitor agent states NodeStatus, NodeStatusList and (2019-01-01) DescribeMonitoringAgentStatuses report,
 * and how a raw Status is read.
 */

export const NODE_AGENT_STATUSES = [
  'running',
  'stopped',
  'not_installed',
  'installing',
  'install_faild',
  'need_to_upgrade',
  'uninstalled',
  // 2019-01-01 only: the agent is there but not installed correctly.
  'abnormal',
  'unknown',
] as const;
/** The CloudMonitor agent's state on an instance. `install_faild` is the API's own spelling. */
export type NodeAgentStatus = (typeof NODE_AGENT_STATUSES)[number];

const STATUS_BY_NAME: ReadonlyMap<string, NodeAgentStatus> = new Map<string, NodeAgentStatus>([
  ...NODE_AGENT_STATUSES.filter((s) => s !== 'unknown').map((s): [string, NodeAgentStatus] => [s, s]),
  // The correctly spelt variant, in case a fixed API version or a simulator sends it.
  ['install_failed', 'install_faild'],
]);

/** Case-insensitive; spaces and hyphens count as underscores; anything unrecognised (or absent) is `unknown`. */
export function normalizeNodeStatus(raw: string | null | undefined): NodeAgentStatus {
  if (raw === null || raw === undefined) return 'unknown';
  return (
    STATUS_BY_NAME.get(
      raw
        .trim()
        .toLowerCase()
        .replace(/[\s-]+/g, '_'),
    ) ?? 'unknown'
  );
}
