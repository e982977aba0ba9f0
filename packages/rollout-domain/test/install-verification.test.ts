import { describe, expect, it } from 'vitest';
import { decideVerification } from '../src/index.ts';
import type { AgentLookup } from '../src/index.ts';

const deadline = new Date('2026-01-01T00:10:00Z');
const before = { now: new Date('2026-01-01T00:05:00Z'), deadline };
const after = { now: new Date('2026-01-01T00:10:00Z'), deadline };
const reported = (agentStatus: string): AgentLookup => ({ kind: 'reported', agentStatus });

describe('install verification', () => {
  it('verifies a running agent, before or after the deadline', () => {
    expect(decideVerification(reported('running'), before)).toEqual({ type: 'verified', agentStatus: 'running' });
    expect(decideVerification(reported('running'), after)).toEqual({ type: 'verified', agentStatus: 'running' });
  });

  it('fails install_faild at once as install_failed_on_host', () => {
    expect(decideVerification(reported('install_faild'), before)).toMatchObject({
      type: 'failed',
      reason: 'install_failed_on_host',
      agentStatus: 'install_faild',
    });
  });

  it('waits for any other status until the deadline, then fails it as agent_not_running', () => {
    for (const status of ['installing', 'not_installed', 'stopped', 'uninstalled', 'unknown']) {
      expect(decideVerification(reported(status), before)).toEqual({ type: 'wait', agentStatus: status });
      expect(decideVerification(reported(status), after)).toMatchObject({
        type: 'failed',
        reason: 'agent_not_running',
        agentStatus: status,
      });
    }
  });

  it('fails a host without Cloud Assistant (not_installed, AutoInstall false) as cloud_assistant_missing with the new driver, after the deadline only', () => {
    const noAssistant: AgentLookup = { kind: 'reported', agentStatus: 'not_installed', autoInstall: false };
    const driver = 'install-monitoring-agent' as const;
    expect(decideVerification(noAssistant, { ...before, driver })).toEqual({
      type: 'wait',
      agentStatus: 'not_installed',
    });
    expect(decideVerification(noAssistant, { ...after, driver })).toMatchObject({
      type: 'failed',
      reason: 'cloud_assistant_missing',
      agentStatus: 'not_installed',
      detail: expect.stringContaining('Cloud Assistant'),
    });
    // A host that has Cloud Assistant but no agent yet, or an unknown AutoInstall: the agent just did not come up.
    for (const autoInstall of [true, null]) {
      expect(
        decideVerification({ kind: 'reported', agentStatus: 'not_installed', autoInstall }, { ...after, driver }),
      ).toMatchObject({ type: 'failed', reason: 'agent_not_running' });
    }
    // Another status with AutoInstall false is not this reason either.
    expect(
      decideVerification({ kind: 'reported', agentStatus: 'stopped', autoInstall: false }, { ...after, driver }),
    ).toMatchObject({ type: 'failed', reason: 'agent_not_running' });
    // NodeInstall's AutoInstall is about Server Guard, not Cloud Assistant: today's driver keeps its reason.
    expect(decideVerification(noAssistant, after)).toMatchObject({ type: 'failed', reason: 'agent_not_running' });
    expect(decideVerification(noAssistant, { ...after, driver: 'node-install' })).toMatchObject({
      reason: 'agent_not_running',
      detail: expect.stringContaining('NodeStatus still reports'),
    });
  });

  it('names DescribeMonitoringAgentStatuses in the details of the new driver', () => {
    const driver = 'install-monitoring-agent' as const;
    expect(decideVerification(reported('install_faild'), { ...before, driver })).toMatchObject({
      reason: 'install_failed_on_host',
      detail: expect.stringMatching(/^DescribeMonitoringAgentStatuses reports install_faild/),
    });
    expect(decideVerification({ kind: 'absent' }, { ...after, driver })).toMatchObject({
      reason: 'instance_not_found',
      detail: expect.stringMatching(/^DescribeMonitoringAgentStatuses did not report/),
    });
  });

  it('fails an instance NodeStatusList left out as instance_not_found, after the deadline only', () => {
    expect(decideVerification({ kind: 'absent' }, before)).toEqual({ type: 'wait', agentStatus: null });
    expect(decideVerification({ kind: 'absent' }, after)).toMatchObject({
      type: 'failed',
      reason: 'instance_not_found',
    });
  });

  it('keeps waiting through transient status-call failures, even past the deadline', () => {
    expect(decideVerification({ kind: 'transient_error', detail: 'HTTP 503' }, after)).toEqual({
      type: 'wait',
      agentStatus: null,
    });
  });

  it('fails a permanent status-call failure after the deadline with the matching reason category', () => {
    const forbidden: AgentLookup = {
      kind: 'permanent_error',
      outcomeKind: 'fleet_wide',
      errorCode: 'Forbidden.RAM',
      errorMessage: 'no permission',
      httpStatus: 403,
    };
    expect(decideVerification(forbidden, before).type).toBe('wait');
    expect(decideVerification(forbidden, after)).toMatchObject({
      type: 'failed',
      reason: 'permission_denied',
      detail: 'NodeStatus failed: Forbidden.RAM: no permission',
    });
    const notFound: AgentLookup = {
      kind: 'permanent_error',
      outcomeKind: 'final',
      errorCode: 'InvalidInstanceId.NotFound',
      errorMessage: null,
      httpStatus: 404,
    };
    expect(decideVerification(notFound, after)).toMatchObject({ type: 'failed', reason: 'instance_not_found' });
  });
});
