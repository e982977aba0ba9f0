/**
 * Which actions each API version offers. NodeInstall and its siblings exist in 2016-09-22, 2017-03-01 and
 * 2018-03-08; 2019-01-01 replaced them with the MonitoringAgent actions (monitoring-agent-actions.ts) and has no
 * NodeInstall. An action asked for under a version that lacks it is `InvalidAction.NotFound`.
 */

const LEGACY_ACTIONS: ReadonlySet<string> = new Set(['NodeInstall', 'NodeStatus', 'NodeStatusList', 'NodeUninstall']);

const ACTIONS_BY_VERSION: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['2016-09-22', LEGACY_ACTIONS],
  ['2017-03-01', LEGACY_ACTIONS],
  ['2018-03-08', LEGACY_ACTIONS],
  [
    '2019-01-01',
    new Set(['InstallMonitoringAgent', 'DescribeMonitoringAgentStatuses', 'DescribeMonitoringAgentHosts']),
  ],
]);

/** The API versions the simulator answers. */
export const SUPPORTED_VERSIONS: ReadonlySet<string> = new Set(ACTIONS_BY_VERSION.keys());

/** The actions of `version`; undefined for a version the API does not have. */
export function actionsOfVersion(version: string): ReadonlySet<string> | undefined {
  return ACTIONS_BY_VERSION.get(version);
}
