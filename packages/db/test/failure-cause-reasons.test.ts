/**
 * fleet_failure_cause as the migrations leave it (every migration applied) against failureCauseOf, for a failed
 * verification of every reason verification raises, cloud_assistant_missing (migration
 * cloud_assistant_missing_cause) included: the report's groups and the retry of a cause use the SQL key, so the two
 * must agree. migration-failure-counts.test.ts compares them on messages, at the migration that made the function.
 */
import { describe, expect, it } from 'vitest';
import { failureCauseOf } from '@fleet/rollout-domain';
import type { Database } from '../src/index.ts';
import { useTestDatabase } from './support.ts';

let db: Database;
useTestDatabase({ poolMax: 2 }, (opened) => (db = opened));

const VERIFICATION_FAILURES: { agentStatus: string | null; reason: string | null }[] = [
  { agentStatus: 'install_faild', reason: 'install_failed_on_host' },
  { agentStatus: 'stopped', reason: 'agent_not_running' },
  { agentStatus: 'not_installed', reason: 'agent_not_running' },
  { agentStatus: null, reason: 'instance_not_found' },
  { agentStatus: 'not_installed', reason: 'cloud_assistant_missing' },
  { agentStatus: 'abnormal', reason: 'permission_denied' },
  { agentStatus: 'x', reason: null },
];

describe('fleet_failure_cause after every migration', () => {
  it('gives the cause failureCauseOf gives for each verification failure reason, cloud_assistant_missing its own', async () => {
    const { rows } = await db.pool.query<{ cause: string }>(
      `SELECT fleet_failure_cause(false, NULL, NULL, c->>'agentStatus', c->>'reason') AS cause
       FROM json_array_elements($1::json) WITH ORDINALITY AS e(c, n) ORDER BY n`,
      [JSON.stringify(VERIFICATION_FAILURES)],
    );
    const expected = VERIFICATION_FAILURES.map(
      (f) =>
        failureCauseOf({
          state: 'succeeded',
          lastErrorCode: null,
          lastErrorMessage: null,
          verification: 'failed',
          agentStatus: f.agentStatus,
          manualInstallReason: f.reason,
        }).cause,
    );
    expect(rows.map((r) => r.cause)).toEqual(expected);
    const cloudAssistant = rows[4]!.cause;
    expect(cloudAssistant).toBe(
      'agent:not_installed: InstallMonitoringAgent succeeded but the host has no Cloud Assistant client (AutoInstall false), so the agent was never installed',
    );
    // Its own group: not that of an agent that is merely not running on a host of the same status.
    expect(cloudAssistant).not.toBe(rows[2]!.cause);
  });
});
