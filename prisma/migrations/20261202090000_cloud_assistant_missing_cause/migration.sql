-- The cause of a failed verification with the reason cloud_assistant_missing (driver install-monitoring-agent: the
-- host has no Cloud Assistant client, so InstallMonitoringAgent never installed the agent) in words, as failureCauseOf
-- in packages/rollout-domain (failure-cause.ts) now says it. Only that reason's text changes, and no row had the
-- reason before this migration, so neither the index on the function (rollout_instance_failure_cause_idx) nor the
-- counts in rollout_failure_count hold a key that changes: no reindex and no backfill. The rest of the body is that
-- of migration rollout_failure_counts, unchanged. No semicolon inside the body: the schema engine that applies
-- migrations here splits at every one.
CREATE OR REPLACE FUNCTION fleet_failure_cause(failed boolean, error_code text, error_message text, agent_status text, manual_install_reason text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $body$
  SELECT CASE WHEN failed THEN coalesce(error_code, 'none') || ': ' || coalesce(nullif(
    (SELECT CASE WHEN length(t) > 300 THEN left(t, 300) || '...' ELSE t END FROM (SELECT btrim(regexp_replace(
      regexp_replace(regexp_replace(regexp_replace(regexp_replace(regexp_replace(coalesce(error_message, ''),
        $re$"[^"]*"|'[^']*'|`[^`]*`$re$, '<value>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<uuid>', 'gi'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))i-[a-z0-9]+(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<instance>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z?(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<time>', 'g'),
        '(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))[0-9]+(\.[0-9]+)?(?:(?<=[A-Za-z0-9_])(?![A-Za-z0-9_])|(?<![A-Za-z0-9_])(?=[A-Za-z0-9_]))', '<n>', 'g'),
      '[ \t\n\v\f\r\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+', ' ', 'g'), ' ') AS t) AS normalised),
    ''), '(no message)')
  ELSE 'agent:' || coalesce(agent_status, 'unknown') || ': ' || CASE manual_install_reason
    WHEN 'install_failed_on_host' THEN 'NodeInstall succeeded but the agent failed to install on the host'
    WHEN 'agent_not_running' THEN 'NodeInstall succeeded but the agent did not report running within the verification window (last status ' || coalesce(agent_status, 'unknown') || ')'
    WHEN 'instance_not_found' THEN 'NodeInstall succeeded but NodeStatus does not know the instance'
    WHEN 'cloud_assistant_missing' THEN 'InstallMonitoringAgent succeeded but the host has no Cloud Assistant client (AutoInstall false), so the agent was never installed'
    ELSE 'NodeInstall succeeded but verification failed (' || coalesce(manual_install_reason, 'unknown reason') || ')'
  END END
$body$;
