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
