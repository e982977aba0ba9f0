import { describe, expect, it } from 'vitest';
import {
  failureCauseOf,
  MANUAL_INSTALL_ACTIONS,
  ManualInstallReason,
  manualInstallAction,
  normaliseErrorMessage,
} from '../src/index.ts';

const failed = (lastErrorCode: string | null, lastErrorMessage: string | null) => ({
  state: 'failed',
  lastErrorCode,
  lastErrorMessage,
  verification: null,
  agentStatus: null,
  manualInstallReason: 'rejected',
});

describe('normaliseErrorMessage', () => {
  it('replaces instance ids, UUIDs, times, numbers and quoted values with placeholders', () => {
    expect(normaliseErrorMessage('The specified instance i-bp1h4adlltjc1d48goaq does not exist.')).toBe(
      'The specified instance <instance> does not exist.',
    );
    expect(
      normaliseErrorMessage(
        'Request 0F6E2D1C-8A4B-4C3D-9E8F-1A2B3C4D5E6F failed after 3 tries at 2026-01-01T00:00:00.123Z',
      ),
    ).toBe('Request <uuid> failed after <n> tries at <time>');
    expect(
      normaliseErrorMessage('The parameter InstanceId is invalid: "i-x,y" is not an ECS instance id (i-...).'),
    ).toBe('The parameter InstanceId is invalid: <value> is not an ECS instance id (i-...).');
    expect(normaliseErrorMessage('no complete response within 10000 ms')).toBe('no complete response within <n> ms');
  });

  it('keeps words that merely contain i- and collapses whitespace', () => {
    expect(normaliseErrorMessage('multi-region   setup\n failed')).toBe('multi-region setup failed');
  });

  it('bounds the length and handles no message', () => {
    expect(normaliseErrorMessage('x'.repeat(1000))).toHaveLength(303);
    expect(normaliseErrorMessage(null)).toBe('');
  });
});

describe('failureCauseOf', () => {
  it('groups failed installs by error code and normalised message', () => {
    const a = failureCauseOf(failed('InvalidInstanceId.NotFound', 'The specified instance i-aaa does not exist.'));
    const b = failureCauseOf(failed('InvalidInstanceId.NotFound', 'The specified instance i-bbb does not exist.'));
    expect(a).toEqual(b);
    expect(a).toEqual({
      cause: 'InvalidInstanceId.NotFound: The specified instance <instance> does not exist.',
      kind: 'install_failed',
      errorCode: 'InvalidInstanceId.NotFound',
      normalisedMessage: 'The specified instance <instance> does not exist.',
    });
    expect(failureCauseOf(failed(null, null)).cause).toBe('none: (no message)');
  });

  it('groups a succeeded install whose agent never came up by its agent status', () => {
    const cause = failureCauseOf({
      state: 'succeeded',
      lastErrorCode: null,
      lastErrorMessage: null,
      verification: 'failed',
      agentStatus: 'install_faild',
      manualInstallReason: 'install_failed_on_host',
    });
    expect(cause).toMatchObject({ kind: 'verification_failed', errorCode: 'agent:install_faild' });
    expect(cause.cause).toBe('agent:install_faild: NodeInstall succeeded but the agent failed to install on the host');
  });

  it('groups a host without Cloud Assistant under its own cause, apart from an agent that did not run', () => {
    const facts = {
      state: 'succeeded',
      lastErrorCode: null,
      lastErrorMessage: null,
      verification: 'failed',
      agentStatus: 'not_installed',
    };
    const missing = failureCauseOf({ ...facts, manualInstallReason: 'cloud_assistant_missing' });
    const notRunning = failureCauseOf({ ...facts, manualInstallReason: 'agent_not_running' });
    expect(missing).toMatchObject({ kind: 'verification_failed', errorCode: 'agent:not_installed' });
    expect(missing.cause).toContain('no Cloud Assistant client');
    expect(missing.cause).not.toBe(notRunning.cause);
  });
});

describe('manual-install actions', () => {
  it('has an instruction for every manual-install reason, and for agent_not_running and cloud_assistant_missing', () => {
    for (const reason of [...Object.values(ManualInstallReason), 'agent_not_running', 'cloud_assistant_missing']) {
      expect(MANUAL_INSTALL_ACTIONS[reason]?.length ?? 0).toBeGreaterThan(30);
    }
    // A host without Cloud Assistant: install that first, then retry, or install the agent by hand.
    expect(manualInstallAction('cloud_assistant_missing')).toMatch(/install the Cloud Assistant client.*first/);
    expect(manualInstallAction('cloud_assistant_missing')).toMatch(/retry/);
    expect(manualInstallAction('cloud_assistant_missing')).toMatch(/by hand/);
    expect(manualInstallAction('something_new')).toBeNull();
    expect(manualInstallAction(null)).toBeNull();
  });
});
