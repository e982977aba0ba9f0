/**
 * The New rollout form's policy fields as text (what the inputs hold) and the request body they make. An empty
 * field leaves the API's default, which the form shows beside it (defaultPolicy of @fleet/rollout-domain: the
 * defaults the API applies).
 */
import type { CountSpec, CreateRolloutBody, InstallDriver, WavePlan } from '@fleet/api-client';
import { defaultPolicy } from '@fleet/rollout-domain';

export const POLICY_DEFAULTS = defaultPolicy();
/** The API's default of abort.minFinished (rollout-policy-schemas.ts in apps/api). */
export const DEFAULT_ABORT_MIN_FINISHED = 10;

export type PolicyFields = {
  /** The install action; the API's default (node-install) is sent as nothing. */
  driver: InstallDriver;
  concurrency: string;
  force: boolean;
  maxAttempts: string;
  baseDelayMs: string;
  maxDelayMs: string;
  /** Wave sizes, comma-separated: "1, 5, 20%". */
  waves: string;
  waveSuccessThresholdPercent: string;
  abortFailureThresholdPercent: string;
  abortMinFinished: string;
  instanceTimeoutMs: string;
};

export const EMPTY_POLICY: PolicyFields = {
  driver: POLICY_DEFAULTS.driver,
  concurrency: '',
  force: false,
  maxAttempts: '',
  baseDelayMs: '',
  maxDelayMs: '',
  waves: '',
  waveSuccessThresholdPercent: '',
  abortFailureThresholdPercent: '',
  abortMinFinished: '',
  instanceTimeoutMs: '',
};

/** "10%" stays a share, a whole number a count; anything else is sent as written, for the API to name. */
function countSpec(text: string): CountSpec {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?%$/.test(trimmed)) return trimmed as `${number}%`;
  return Number(trimmed);
}

function number(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text.trim());
}

export function wavePlanOf(text: string): WavePlan | undefined {
  const sizes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  return sizes.length === 0 ? undefined : { sizes: sizes.map(countSpec) };
}

export function createBodyOf(userId: string, instanceIds: string[], fields: PolicyFields): CreateRolloutBody {
  const retry = {
    ...(number(fields.maxAttempts) !== undefined ? { maxAttempts: number(fields.maxAttempts)! } : {}),
    ...(number(fields.baseDelayMs) !== undefined ? { baseDelayMs: number(fields.baseDelayMs)! } : {}),
    ...(number(fields.maxDelayMs) !== undefined ? { maxDelayMs: number(fields.maxDelayMs)! } : {}),
  };
  const waves = wavePlanOf(fields.waves);
  const threshold = number(fields.abortFailureThresholdPercent);
  const minFinished = number(fields.abortMinFinished);
  return {
    userId,
    instanceIds,
    ...(fields.force ? { force: true } : {}),
    ...(fields.driver !== POLICY_DEFAULTS.driver ? { driver: fields.driver } : {}),
    ...(fields.concurrency.trim() !== '' ? { concurrency: countSpec(fields.concurrency) } : {}),
    ...(Object.keys(retry).length > 0 ? { retry } : {}),
    ...(waves ? { waves } : {}),
    ...(number(fields.waveSuccessThresholdPercent) !== undefined
      ? { waveSuccessThresholdPercent: number(fields.waveSuccessThresholdPercent)! }
      : {}),
    ...(threshold !== undefined
      ? { abort: { failureThresholdPercent: threshold, ...(minFinished !== undefined ? { minFinished } : {}) } }
      : {}),
    ...(number(fields.instanceTimeoutMs) !== undefined ? { instanceTimeoutMs: number(fields.instanceTimeoutMs)! } : {}),
  };
}
