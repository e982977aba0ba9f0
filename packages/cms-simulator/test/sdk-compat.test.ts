import { createHash, createHmac, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY_ID, SECRET, USER_ID, rawRequest, startSimulator, type Running } from './support/client.ts';

/**
 * Requests built the way Alibaba's official SDKs build them, re-implemented here from their documented behaviour
 * (not with this repository's signer), so the simulator is checked against what real clients send.
 */

let running: Running;
beforeEach(async () => {
  running = await startSimulator();
});
afterEach(async () => {
  await running.sim.stop();
});

/** @alicloud/pop-core (Node): encodeURIComponent, then the five characters it spares. */
function popCoreEncode(text: string): string {
  return encodeURIComponent(text)
    .replace(/!/g, '%21')
    .replace(/'/g, '%27')
    .replace(/\(/g, '%28')
    .replace(/\)/g, '%29')
    .replace(/\*/g, '%2A');
}

/** pop-core's timestamp: UTC fields padded by hand, no milliseconds. */
function popCoreTimestamp(date: Date): string {
  const pad = (n: number) => (n < 10 ? `0${n}` : String(n));
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())}` +
    `T${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}Z`
  );
}

/**
 * pop-core's request: defaults merged under the action's params, sorted and encoded pairs, the string to sign over
 * them, then the Signature appended last (unsorted) before the pairs go into the query (GET) or the form body (POST).
 * Its nonce is a hex digest, not a UUID.
 */
function popCoreRequest(endpoint: string, action: string, params: Record<string, string>, method: 'GET' | 'POST') {
  const all: Record<string, string> = {
    Action: action,
    Format: 'JSON',
    SignatureMethod: 'HMAC-SHA1',
    SignatureNonce: createHash('md5').update(`${Math.random()}${Date.now()}${process.pid}`).digest('hex'),
    SignatureVersion: '1.0',
    Timestamp: popCoreTimestamp(new Date()),
    AccessKeyId: KEY_ID,
    Version: '2017-03-01',
    ...params,
  };
  const normalized = Object.keys(all)
    .sort()
    .map((key) => [popCoreEncode(key), popCoreEncode(all[key]!)] as const);
  const canonicalize = (pairs: readonly (readonly [string, string])[]) => pairs.map(([k, v]) => `${k}=${v}`).join('&');
  const stringToSign = `${method}&${popCoreEncode('/')}&${popCoreEncode(canonicalize(normalized))}`;
  const signature = createHmac('sha1', `${SECRET}&`).update(stringToSign).digest('base64');
  const withSignature = [...normalized, ['Signature', popCoreEncode(signature)] as const];
  return method === 'GET'
    ? rawRequest(`${endpoint}?${canonicalize(withSignature)}`, { method })
    : rawRequest(endpoint, {
        method,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: canonicalize(withSignature),
      });
}

/** java.net.URLEncoder.encode(s, "UTF-8"): keeps a-z A-Z 0-9 . - * _, a space becomes +, the rest %XX of UTF-8. */
function javaUrlEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const char = String.fromCharCode(byte);
    if (/[A-Za-z0-9.\-*_]/.test(char)) out += char;
    else if (char === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** aliyun-java-sdk-core's AcsURLEncoder.percentEncode: URLEncoder, then + -> %20, * -> %2A, %7E -> ~. */
function javaPercentEncode(text: string): string {
  return javaUrlEncode(text).replace(/\+/g, '%20').replace(/\*/g, '%2A').replace(/%7E/g, '~');
}

/**
 * The Java SDK's RPC composer: a TreeMap of the parameters (String order = code units), "&k=v" per entry, the
 * leading & dropped, Timestamp as yyyy-MM-dd'T'HH:mm:ss'Z' in GMT, a UUID nonce; the POST body is form-encoded
 * with URLEncoder (spaces as +).
 */
function javaSdkRequest(endpoint: string, action: string, params: Record<string, string>, method: 'GET' | 'POST') {
  const all: Record<string, string> = {
    Timestamp: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    SignatureNonce: randomUUID(),
    Format: 'JSON',
    AccessKeyId: KEY_ID,
    Action: action,
    Version: '2017-03-01',
    ...params,
  };
  const sortedKeys = Object.keys(all).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  let canonical = '';
  for (const key of sortedKeys) canonical += `&${javaPercentEncode(key)}=${javaPercentEncode(all[key]!)}`;
  const stringToSign = `${method}&${javaPercentEncode('/')}&${javaPercentEncode(canonical.substring(1))}`;
  const signature = createHmac('sha1', `${SECRET}&`).update(stringToSign, 'utf8').digest('base64');
  const withSignature: Record<string, string> = { ...all, Signature: signature };
  if (method === 'GET') {
    const query = Object.entries(withSignature)
      .map(([k, v]) => `${javaPercentEncode(k)}=${javaPercentEncode(v)}`)
      .join('&');
    return rawRequest(`${endpoint}?${query}`);
  }
  const body = Object.entries(withSignature)
    .map(([k, v]) => `${javaUrlEncode(k)}=${javaUrlEncode(v)}`)
    .join('&');
  return rawRequest(endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    body,
  });
}

describe('requests signed like the official SDKs', () => {
  it.each(['GET', 'POST'] as const)('pop-core style %s NodeInstall verifies and installs', async (method) => {
    const response = await popCoreRequest(
      running.url,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: 'i-bp1popcore0001', Force: 'false' },
      method,
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ Success: true, ErrorCode: 200 });
    expect(running.sim.stats().installsByInstance).toEqual({ 'i-bp1popcore0001': 1 });
  });

  it('pop-core style GET NodeStatusList with a comma list verifies', async () => {
    const response = await popCoreRequest(running.url, 'NodeStatusList', { InstanceIds: 'i-aaa1,i-bbb2' }, 'GET');
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).NodeStatusList.NodeStatus).toHaveLength(2);
  });

  it.each(['GET', 'POST'] as const)('Java SDK style %s NodeInstall verifies', async (method) => {
    const response = await javaSdkRequest(
      running.url,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: 'i-bp1javasdk0001', Force: 'true' },
      method,
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toMatchObject({ Success: true, ErrorCode: 200 });
  });

  it('Java SDK style POST with a value holding spaces, * and ~ (form body: spaces as +) verifies', async () => {
    const response = await javaSdkRequest(
      running.url,
      'NodeStatus',
      { InstanceId: 'i-bp1javasdk0002', Note: 'a b*c~d 云' },
      'POST',
    );
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).Status).toBe('not_installed');
  });
});
