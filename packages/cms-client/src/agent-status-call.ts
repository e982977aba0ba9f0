import type { CmsClient, NodeStatusListChunkResult } from './cms-client-types.ts';

/**
 * The agent status calls of the two API generations: NodeStatusList (2016-2018, beside NodeInstall) and
 * DescribeMonitoringAgentStatuses (2019-01-01, beside InstallMonitoringAgent). Both answer per instance in the same
 * shape (NodeStatusListResult); skipInstalled's checks, the dry run's pre-check and install verification ask them.
 */
export type AgentStatusAction = 'NodeStatusList' | 'DescribeMonitoringAgentStatuses';

/**
 * Most instance ids per status call: NodeStatusList's most, and DescribeMonitoringAgentStatuses' in the simulator
 * (Alibaba's docs give it none, see docs/cms-api-facts.md). Callers chunk by it so each call is one request they
 * can put on the account's rate schedule.
 */
export const AGENT_STATUS_IDS_PER_CALL = 50;

/** One status call for at most AGENT_STATUS_IDS_PER_CALL ids: the one chunk the client sends them in. */
export async function callAgentStatus(
  cms: CmsClient,
  action: AgentStatusAction,
  instanceIds: string[],
): Promise<NodeStatusListChunkResult> {
  const { chunks } =
    action === 'DescribeMonitoringAgentStatuses'
      ? await cms.describeMonitoringAgentStatuses({ instanceIds })
      : await cms.nodeStatusList({ instanceIds });
  return chunks[0]!;
}
