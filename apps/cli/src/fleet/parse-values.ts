import type { CountSpec } from '@fleet/api-client';
import { UsageError } from './exit-codes.ts';

/** Flag values as the API takes them; a bad one is a UsageError naming the flag, what is allowed and the value. */

export function countSpec(flag: string, value: string): CountSpec {
  if (/^\d+$/.test(value)) return Number(value);
  if (/^\d+(\.\d{1,2})?%$/.test(value)) return value as `${number}%`;
  throw new UsageError(`${flag} must be a number such as 50 or a share such as 10%; got ${JSON.stringify(value)}`);
}

export function countSpecList(flag: string, value: string): CountSpec[] {
  return value.split(',').map((part) => countSpec(flag, part.trim()));
}

export function positiveInt(flag: string, value: string): number {
  if (/^\d+$/.test(value) && Number(value) > 0) return Number(value);
  throw new UsageError(`${flag} must be a whole number above 0; got ${JSON.stringify(value)}`);
}

export function decimal(flag: string, value: string): number {
  const n = Number(value);
  if (value.trim() !== '' && Number.isFinite(n)) return n;
  throw new UsageError(`${flag} must be a number; got ${JSON.stringify(value)}`);
}

/** `20%` or `20`: a percentage from above 0 to 100. */
export function percent(flag: string, value: string): number {
  const n = Number(value.replace(/%$/, ''));
  if (Number.isFinite(n) && n > 0 && n <= 100) return n;
  throw new UsageError(
    `${flag} must be a percentage above 0 and at most 100, such as 20%; got ${JSON.stringify(value)}`,
  );
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30m`, `90s`, `1h30m`, `500ms`; a bare number is seconds. In ms. */
export function durationMs(flag: string, value: string): number {
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length > 0 && parts.map((p) => p[0]).join('') === value)
    return parts.reduce((sum, p) => sum + Number(p[1]) * UNITS[p[2]!]!, 0);
  throw new UsageError(`${flag} must be a duration such as 90s, 30m or 1h; got ${JSON.stringify(value)}`);
}

export function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new UsageError(`${flag} must be one of ${allowed.join(', ')}; got ${JSON.stringify(value)}`);
}

/** An id given on the command line, checked before it is sent. */
export function rolloutId(value: string): string {
  if (/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(value)) return value;
  throw new UsageError(`a rollout id is a UUID; got ${JSON.stringify(value)}`);
}
