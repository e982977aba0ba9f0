import { createHmac, randomUUID } from 'node:crypto';
import http from 'node:http';
import { afterEach } from 'vitest';
import { createSimulator, type Simulator, type SimulatorOptions } from '../../src/index.ts';

/**
 * A small signer written for the tests, deliberately not the one in @fleet/cms-client, so a shared mistake in the
 * production signer cannot make the simulator agree with it: byte-wise RFC 3986 encoding of UTF-8.
 */
function rfc3986(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const unreserved =
      (byte >= 0x41 && byte <= 0x5a) ||
      (byte >= 0x61 && byte <= 0x7a) ||
      (byte >= 0x30 && byte <= 0x39) ||
      byte === 0x2d ||
      byte === 0x5f ||
      byte === 0x2e ||
      byte === 0x7e;
    out += unreserved ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function testStringToSign(method: string, params: Record<string, string>): string {
  const canonical = Object.keys(params)
    .filter((name) => name !== 'Signature')
    .sort((a, b) => (a === b ? 0 : a < b ? -1 : 1))
    .map((name) => `${rfc3986(name)}=${rfc3986(params[name]!)}`)
    .join('&');
  return `${method}&${rfc3986('/')}&${rfc3986(canonical)}`;
}

function testSign(method: string, params: Record<string, string>, secret: string): string {
  return createHmac('sha1', `${secret}&`).update(testStringToSign(method, params)).digest('base64');
}

/** `YYYY-MM-DDThh:mm:ssZ`, the only form the gateway accepts. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export const KEY_ID = 'LTAItestkey000001';
export const SECRET = 'test-secret-value-1234';
export const USER_ID = '1234567898765432';

export type CallOptions = {
  method?: 'GET' | 'POST';
  format?: string;
  accessKeyId?: string;
  secret?: string;
  timestamp?: string;
  nonce?: string;
  version?: string;
  /** Public parameters to leave out. */
  omit?: string[];
};

/** Action params plus every public parameter, signed. */
export function signedParams(
  action: string,
  actionParams: Record<string, string>,
  options: CallOptions = {},
): Record<string, string> {
  const params: Record<string, string> = {
    Action: action,
    Version: options.version ?? '2017-03-01',
    Format: options.format ?? 'JSON',
    AccessKeyId: options.accessKeyId ?? KEY_ID,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: options.nonce ?? randomUUID(),
    Timestamp: options.timestamp ?? isoSeconds(Date.now()),
    ...actionParams,
  };
  for (const name of options.omit ?? []) delete params[name];
  params.Signature = testSign(options.method ?? 'GET', params, options.secret ?? SECRET);
  for (const name of options.omit ?? []) delete params[name];
  return params;
}

export function encodeParams(params: Record<string, string>): string {
  return Object.entries(params)
    .map(([name, value]) => `${rfc3986(name)}=${rfc3986(value)}`)
    .join('&');
}

export type RawResponse = { status: number; headers: http.IncomingHttpHeaders; body: string };

export function rawRequest(
  url: string,
  init: {
    method?: string;
    headers?: Record<string, string>;
    body?: string;
    agent?: http.Agent | false;
    signal?: AbortSignal;
  } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: init.method ?? 'GET', headers: init.headers, agent: init.agent ?? false, signal: init.signal },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Sends already-signed params the way an RPC client does: in the query (GET) or as a form body (POST). */
export function sendParams(
  baseUrl: string,
  method: 'GET' | 'POST',
  params: Record<string, string>,
): Promise<RawResponse> {
  const encoded = encodeParams(params);
  if (method === 'GET') return rawRequest(`${baseUrl}?${encoded}`);
  return rawRequest(baseUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: encoded,
  });
}

export function callAction(
  baseUrl: string,
  action: string,
  actionParams: Record<string, string>,
  options: CallOptions = {},
): Promise<RawResponse> {
  const method = options.method ?? 'GET';
  return sendParams(baseUrl, method, signedParams(action, actionParams, { ...options, method }));
}

export async function callJson(
  baseUrl: string,
  action: string,
  actionParams: Record<string, string>,
  options: CallOptions = {},
) {
  const response = await callAction(baseUrl, action, actionParams, options);
  return {
    status: response.status,
    body: JSON.parse(response.body) as Record<string, unknown>,
    headers: response.headers,
  };
}

export async function simJson(
  baseUrl: string,
  path: string,
  init: { method?: string; body?: unknown } = {},
  // The simulator's JSON as sent: the tests assert its shape, so it is not typed ahead of them (see ApiResponse in
  // apps/api/test/support.ts for the same choice).
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
): Promise<{ status: number; body: any }> {
  const response = await rawRequest(new URL(path, baseUrl).toString(), {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? {} : { 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return { status: response.status, body: response.body === '' ? undefined : JSON.parse(response.body) };
}

export type Running = { sim: Simulator; url: string };

/**
 * Starts a simulator on port 0 with the test key; without a profile, with no latency and no failing instances
 * unless asked (a profile asked for brings its own values).
 */
export async function startSimulator(options: Partial<SimulatorOptions> = {}): Promise<Running> {
  const sim = createSimulator({
    accessKeys: { [KEY_ID]: SECRET },
    ...(options.profile === undefined ? { latencyMs: 0, failureRate: 0 } : {}),
    ...options,
  });
  const { url } = await sim.start(0);
  return { sim, url };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `simulator(options)` starter for one test file; every simulator it started is stopped after each test. */
export function useSimulators(): (options?: Parameters<typeof startSimulator>[0]) => Promise<Running> {
  const started: Running[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((r) => r.sim.stop()));
  });
  return async (options = {}) => {
    const running = await startSimulator(options);
    started.push(running);
    return running;
  };
}
