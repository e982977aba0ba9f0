import { FleetError } from '@fleet/errors';
import type { CmsClientOptions } from './cms-client-types.ts';
import { DEFAULT_API_VERSION } from './request-params.ts';
import { SIGNATURE_VERSIONS } from './request-params.ts';
import type { CmsCredentials, HttpMethod, ResponseFormat, SignatureVersion } from './request-params.ts';

const DEFAULTS = {
  timeoutMs: 10_000,
  method: 'POST',
  format: 'JSON',
  maxConnections: 256,
  statusListChunkSize: 50,
  maxResponseBytes: 1024 * 1024,
} as const;

function optionsError(message: string): FleetError {
  return new FleetError('cms_client_options_invalid', `createCmsClient: ${message}`);
}

// setTimeout fires at once for delays above 2^31-1 ms, which would turn a huge timeout into an instant one.
const MAX_TIMER_MS = 2_147_483_647;

function positiveInteger(
  name: string,
  value: number | undefined,
  fallback: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0 || value > max) {
    throw optionsError(`${name} must be a positive integer not above ${max}`);
  }
  return value;
}

export function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.trim().length > 0;
}

/** CmsClientOptions checked, with their defaults filled in. */
export type ResolvedCmsClientOptions = {
  endpoint: URL;
  credentials: CmsCredentials;
  method: HttpMethod;
  format: ResponseFormat;
  version: string;
  signatureVersion: SignatureVersion;
  timeoutMs: number;
  maxConnections: number;
  statusListChunkSize: number;
  maxResponseBytes: number;
  now: () => Date;
  nonce: (() => string) | undefined;
};

/** Checks createCmsClient's options; throws `cms_client_options_invalid` naming the option (never a secret's value). */
export function resolveCmsClientOptions(options: CmsClientOptions): ResolvedCmsClientOptions {
  if (typeof options !== 'object' || options === null) throw optionsError('options must be an object');
  let endpoint: URL;
  try {
    endpoint = new URL(options.endpoint);
  } catch {
    throw optionsError('endpoint must be an absolute http(s) URL');
  }
  if (endpoint.protocol !== 'http:' && endpoint.protocol !== 'https:') {
    throw optionsError('endpoint must be an absolute http(s) URL');
  }
  const credentials = options.credentials;
  if (typeof credentials !== 'object' || credentials === null) throw optionsError('credentials are required');
  if (!nonEmptyString(credentials.accessKeyId))
    throw optionsError('credentials.accessKeyId must be a non-empty string');
  // Never include the value in the message: it is the secret.
  if (!nonEmptyString(credentials.accessKeySecret)) {
    throw optionsError('credentials.accessKeySecret must be a non-empty string');
  }
  if (credentials.securityToken !== undefined && typeof credentials.securityToken !== 'string') {
    throw optionsError('credentials.securityToken must be a string when given');
  }
  const method = options.method ?? DEFAULTS.method;
  if (method !== 'GET' && method !== 'POST') throw optionsError('method must be GET or POST');
  const format = options.format ?? DEFAULTS.format;
  if (format !== 'JSON' && format !== 'XML') throw optionsError('format must be JSON or XML');
  const version = options.version ?? DEFAULT_API_VERSION;
  if (!nonEmptyString(version)) throw optionsError('version must be a non-empty string');
  const signatureVersion = options.signatureVersion ?? 'v1';
  if (!SIGNATURE_VERSIONS.includes(signatureVersion)) throw optionsError('signatureVersion must be v1 or v3');
  const timeoutMs = positiveInteger('timeoutMs', options.timeoutMs, DEFAULTS.timeoutMs, MAX_TIMER_MS);
  const maxConnections = positiveInteger('maxConnections', options.maxConnections, DEFAULTS.maxConnections);
  const statusListChunkSize = positiveInteger(
    'statusListChunkSize',
    options.statusListChunkSize,
    DEFAULTS.statusListChunkSize,
  );
  const maxResponseBytes = positiveInteger('maxResponseBytes', options.maxResponseBytes, DEFAULTS.maxResponseBytes);

  return {
    endpoint,
    // A copy, so a caller mutating its object later cannot change what we sign with.
    credentials: {
      accessKeyId: credentials.accessKeyId,
      accessKeySecret: credentials.accessKeySecret,
      ...(credentials.securityToken !== undefined ? { securityToken: credentials.securityToken } : {}),
    },
    method,
    format,
    version,
    signatureVersion,
    timeoutMs,
    maxConnections,
    statusListChunkSize,
    maxResponseBytes,
    now: options.now ?? (() => new Date()),
    nonce: options.nonce,
  };
}
