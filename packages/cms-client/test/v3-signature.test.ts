import { createHash, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  prepareRequest,
  sha256Hex,
  v3CanonicalHeaders,
  v3CanonicalQueryString,
  v3CanonicalRequest,
} from '../src/index.ts';

/** The V3 signer's parts on plain data; against the official SDKs' signers: v3-golden.test.ts. */

describe('v3CanonicalQueryString', () => {
  it('encodes names and values as RFC 3986 (space %20, * %2A, ~ kept), sorts by name, keeps empty values', () => {
    expect(v3CanonicalQueryString({ b: 'a b*c~', a: '', 'InstanceIds.10': 'x', 'InstanceIds.2': '云' })).toBe(
      'InstanceIds.10=x&InstanceIds.2=%E4%BA%91&a=&b=a%20b%2Ac~',
    );
  });
});

describe('v3CanonicalHeaders', () => {
  it('signs host, content-type and x-acs-* only, lower case, sorted, values trimmed', () => {
    expect(
      v3CanonicalHeaders({ 'X-Acs-Date': ' 2026-12-02T05:00:00Z ', host: 'h:1', accept: 'json', 'content-type': 'f' }),
    ).toEqual({
      canonicalHeaders: 'content-type:f\nhost:h:1\nx-acs-date:2026-12-02T05:00:00Z\n',
      signedHeaders: 'content-type;host;x-acs-date',
    });
  });
});

describe('prepareRequest with signatureVersion v3', () => {
  const input = {
    action: 'NodeInstall',
    params: { UserId: '1234567898765432', InstanceId: 'i-a1', Force: true },
    credentials: { accessKeyId: 'LTAIid', accessKeySecret: 'secret' },
    now: () => new Date('2026-12-02T05:00:00.987Z'),
    nonce: () => 'nonce-1',
    signatureVersion: 'v3' as const,
  };

  it('POST: the action parameters in a form body whose SHA-256 is signed; public ones as x-acs-* headers', () => {
    const prepared = prepareRequest('http://127.0.0.1:8787/', { ...input, method: 'POST' });
    expect(prepared.body).toBe('UserId=1234567898765432&InstanceId=i-a1&Force=true');
    expect(prepared.path).toBe('/');
    expect(prepared.headers).toMatchObject({
      host: '127.0.0.1:8787',
      'x-acs-action': 'NodeInstall',
      'x-acs-version': '2017-03-01',
      'x-acs-date': '2026-12-02T05:00:00Z',
      'x-acs-signature-nonce': 'nonce-1',
      'x-acs-content-sha256': createHash('sha256').update(prepared.body!).digest('hex'),
      'content-type': 'application/x-www-form-urlencoded',
    });
    const canonical = v3CanonicalRequest({
      method: 'POST',
      path: '/',
      query: {},
      headers: prepared.headers,
      hashedPayload: sha256Hex(prepared.body!),
    });
    const signature = createHmac('sha256', 'secret')
      .update(`ACS3-HMAC-SHA256\n${sha256Hex(canonical)}`)
      .digest('hex');
    expect(prepared.headers['authorization']).toBe(
      `ACS3-HMAC-SHA256 Credential=LTAIid,SignedHeaders=content-type;host;x-acs-action;x-acs-content-sha256;` +
        `x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=${signature}`,
    );
    // No RPC public parameter travels: V3 has none of Format, Signature, SignatureNonce, Timestamp.
    expect(Object.keys(prepared.params).sort()).toEqual(['Force', 'InstanceId', 'UserId']);
  });

  it('GET: the parameters in the query string, the hash of the empty body, no content-type', () => {
    const prepared = prepareRequest('https://metrics.cn-hangzhou.aliyuncs.com/', { ...input, method: 'GET' });
    expect(prepared.path).toBe('/?UserId=1234567898765432&InstanceId=i-a1&Force=true');
    expect(prepared.body).toBeUndefined();
    expect(prepared.headers['host']).toBe('metrics.cn-hangzhou.aliyuncs.com');
    expect(prepared.headers['x-acs-content-sha256']).toBe(sha256Hex(''));
    expect(prepared.headers['content-type']).toBeUndefined();
  });

  it('an STS token travels as the signed x-acs-security-token header', () => {
    const prepared = prepareRequest('http://127.0.0.1:8787/', {
      ...input,
      method: 'POST',
      credentials: { ...input.credentials, securityToken: 'sts' },
    });
    expect(prepared.headers['x-acs-security-token']).toBe('sts');
    expect(prepared.headers['authorization']).toContain('x-acs-security-token');
  });
});
