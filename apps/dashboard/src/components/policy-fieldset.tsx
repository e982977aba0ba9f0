import { useId } from 'react';
import { INSTALL_DRIVERS } from '@fleet/api-client';
import type { InstallDriver } from '@fleet/api-client';
import type { PolicyFields } from '../policy-form.ts';
import { DEFAULT_ABORT_MIN_FINISHED, POLICY_DEFAULTS } from '../policy-form.ts';
import { formatCount } from '../format.ts';

type TextField = Exclude<keyof PolicyFields, 'force' | 'driver'>;

/** What each driver does, beside its name (docs/api.md, policy.driver). */
const DRIVER_LABELS: Record<InstallDriver, string> = {
  'node-install': 'NodeInstall, one host a call',
  'install-monitoring-agent': 'InstallMonitoringAgent, up to 10 hosts a call (needs Cloud Assistant on the host)',
};

/** The rollout policy's fields; each shows the API's default, which an empty field keeps. */
export function PolicyFieldset(props: {
  value: PolicyFields;
  onChange: (value: PolicyFields) => void;
  /** The wave sizes these settings give for the ids entered (planWaveSizes, as the API plans them). */
  waveSizes: number[];
}) {
  const prefix = useId();
  const field = (name: TextField, label: string, defaultText: string, hint?: string) => (
    <div>
      <label htmlFor={`${prefix}-${name}`}>{label}</label>
      <input
        id={`${prefix}-${name}`}
        value={props.value[name]}
        placeholder={defaultText}
        aria-describedby={`${prefix}-${name}-default`}
        onChange={(event) => props.onChange({ ...props.value, [name]: event.target.value })}
      />
      <span id={`${prefix}-${name}-default`} className="muted">
        default: {defaultText}
        {hint ? ` · ${hint}` : ''}
      </span>
    </div>
  );
  const retry = POLICY_DEFAULTS.retry;
  return (
    <fieldset className="policy">
      <legend>Policy</legend>
      <div>
        <label htmlFor={`${prefix}-driver`}>Install driver</label>
        <select
          id={`${prefix}-driver`}
          value={props.value.driver}
          aria-describedby={`${prefix}-driver-default`}
          onChange={(event) => props.onChange({ ...props.value, driver: event.target.value as InstallDriver })}
        >
          {INSTALL_DRIVERS.map((driver) => (
            <option key={driver} value={driver}>
              {driver}: {DRIVER_LABELS[driver]}
            </option>
          ))}
        </select>
        <span id={`${prefix}-driver-default`} className="muted">
          default: {POLICY_DEFAULTS.driver}
        </span>
      </div>
      {field('concurrency', 'Concurrency', String(POLICY_DEFAULTS.concurrency), '1 to 10000, or a share such as 10%')}
      {field('maxAttempts', 'Most attempts per instance', String(retry.maxAttempts), '1 to 10')}
      {field('baseDelayMs', 'First retry delay (ms)', String(retry.baseDelayMs))}
      {field('maxDelayMs', 'Longest retry delay (ms)', String(retry.maxDelayMs))}
      {field('waves', 'Wave sizes', 'one wave', 'e.g. 1, 5, 20% (the last size repeats)')}
      {field(
        'waveSuccessThresholdPercent',
        'Wave success threshold (%)',
        String(POLICY_DEFAULTS.waveSuccessThresholdPercent),
      )}
      {field('abortFailureThresholdPercent', 'Abort above failure rate (%)', 'never')}
      {field('abortMinFinished', 'Abort only after this many finished', String(DEFAULT_ABORT_MIN_FINISHED))}
      {field('instanceTimeoutMs', 'Instance timeout (ms)', 'none')}
      <div className="checkbox">
        <input
          id={`${prefix}-force`}
          type="checkbox"
          checked={props.value.force}
          onChange={(event) => props.onChange({ ...props.value, force: event.target.checked })}
        />
        <label htmlFor={`${prefix}-force`}>Reinstall where the agent already runs (force)</label>
      </div>
      {props.waveSizes.length > 0 && (
        <p className="muted">
          Waves for these ids: {props.waveSizes.slice(0, 12).map(formatCount).join(', ')}
          {props.waveSizes.length > 12 ? `, … (${props.waveSizes.length} waves)` : ''}
        </p>
      )}
    </fieldset>
  );
}
