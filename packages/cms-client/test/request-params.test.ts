import { describe, expect, it } from 'vitest';
import { FleetError } from '@fleet/errors';
import {
  buildSignedParams,
  computeSignature,
  encodeParams,
  formatTimestamp,
  prepareRequest,
  stringToSign,
  type SignedParamsInput,
} from '../src/index.ts';

const fixedNow = () => new Date('2024-05-06T07:08:09.987Z');
const fixedNonce = () => 'nonce-0001';

const NODE_INSTALL: SignedParamsInput = {
  action: 'NodeInstall',
  params: { UserId: '1234567898765432', InstanceId: 'i-bp1h4adlltjc1d48goaq', Force: true },
  method: 'POST',
  credentials: { accessKeyId: 'testid', accessKeySecret: 'testsecret' },
  now: fixedNow,
  nonce: fixedNonce,
};

function withoutSignature(params: Record<string, string>): Record<string, string> {
  const { Signature: _signature, ...rest } = params;
  return rest;
}

describe('formatTimestamp', () => {
  it('is UTC YYYY-MM-DDThh:mm:ssZ without milliseconds', () => {
    expect(formatTimestamp(new Date('2024-05-06T07:08:09.987Z'))).toBe('2024-05-06T07:08:09Z');
    expect(formatTimestamp(new Date('2024-12-31T23:59:59.999Z'))).toBe('2024-12-31T23:59:59Z');
    expect(formatTimestamp(new Date(Date.UTC(2016, 1, 23, 12, 46, 24)))).toBe('2016-02-23T12:46:24Z');
  });

  it('matches the no-milliseconds pattern for the real clock', () => {
    expect(formatTimestamp(new Date())).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  });

  it('throws a FleetError for an invalid Date', () => {
    expect(() => formatTimestamp(new Date(Number.NaN))).toThrow(FleetError);
  });
});

describe('buildSignedParams', () => {
  it('produces every public parameter, the action parameters and a signature over them (POST)', () => {
    const params = buildSignedParams(NODE_INSTALL);
    expect(params).toEqual({
      Action: 'NodeInstall',
      UserId: '1234567898765432',
      InstanceId: 'i-bp1h4adlltjc1d48goaq',
      Force: 'true',
      Format: 'JSON',
      Version: '2017-03-01',
      AccessKeyId: 'testid',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: 'nonce-0001',
      Timestamp: '2024-05-06T07:08:09Z',
      // Cross-checked outside the code: printf '%s' "<string below>" | openssl dgst -sha1 -hmac 'testsecret&' -binary | base64
      Signature: 'fjOxXGDzo0+Hd1JoKq+QXE+eU6o=',
    });
    expect(stringToSign('POST', withoutSignature(params))).toBe(
      'POST&%2F&AccessKeyId%3Dtestid%26Action%3DNodeInstall%26Force%3Dtrue%26Format%3DJSON' +
        '%26InstanceId%3Di-bp1h4adlltjc1d48goaq%26SignatureMethod%3DHMAC-SHA1' +
        '%26SignatureNonce%3Dnonce-0001%26SignatureVersion%3D1.0' +
        '%26Timestamp%3D2024-05-06T07%253A08%253A09Z%26UserId%3D1234567898765432%26Version%3D2017-03-01',
    );
  });

  it('signs with the method: the GET signature differs and verifies only as GET', () => {
    const get = buildSignedParams({ ...NODE_INSTALL, method: 'GET' });
    const post = buildSignedParams(NODE_INSTALL);
    expect(get['Signature']).not.toBe(post['Signature']);
    expect(computeSignature('GET', withoutSignature(get), 'testsecret')).toBe(get['Signature']);
    expect(computeSignature('POST', withoutSignature(get), 'testsecret')).not.toBe(get['Signature']);
  });

  it('sends false as the string "false" and omits undefined parameters', () => {
    const params = buildSignedParams({
      ...NODE_INSTALL,
      params: { InstanceId: 'i-1', Force: false, UserId: undefined },
    });
    expect(params['Force']).toBe('false');
    expect('UserId' in params).toBe(false);
  });

  it('flattens a list 1-based', () => {
    const params = buildSignedParams({ ...NODE_INSTALL, params: { InstanceIds: ['i-a', 'i-b'] } });
    expect(params['InstanceIds.1']).toBe('i-a');
    expect(params['InstanceIds.2']).toBe('i-b');
    expect('InstanceIds' in params).toBe(false);
  });

  it('honours format XML and a custom version', () => {
    const params = buildSignedParams({ ...NODE_INSTALL, format: 'XML', version: '2016-09-22' });
    expect(params['Format']).toBe('XML');
    expect(params['Version']).toBe('2016-09-22');
  });

  it('adds SecurityToken (STS) and signs it like any parameter', () => {
    const params = buildSignedParams({
      ...NODE_INSTALL,
      credentials: { accessKeyId: 'STS.id', accessKeySecret: 'testsecret', securityToken: 'tok+en/=' },
    });
    expect(params['SecurityToken']).toBe('tok+en/=');
    expect(stringToSign('POST', withoutSignature(params))).toContain('%26SecurityToken%3Dtok%252Ben%252F%253D%26');
    expect(computeSignature('POST', withoutSignature(params), 'testsecret')).toBe(params['Signature']);
  });

  it('draws a fresh UUID nonce per request by default', () => {
    const { nonce: _nonce, ...input } = NODE_INSTALL;
    const a = buildSignedParams(input)['SignatureNonce'];
    const b = buildSignedParams(input)['SignatureNonce'];
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('refuses an action parameter that would override a public parameter', () => {
    expect(() => buildSignedParams({ ...NODE_INSTALL, params: { Signature: 'x' } })).toThrow(
      /collides with a public request parameter/,
    );
    expect(() => buildSignedParams({ ...NODE_INSTALL, params: { Timestamp: 'x' } })).toThrow(FleetError);
  });

  it('never puts the secret into the parameters', () => {
    const params = buildSignedParams(NODE_INSTALL);
    expect(JSON.stringify(params)).not.toContain('testsecret');
  });
});

describe('encodeParams and prepareRequest', () => {
  it('encodes spaces as %20 (never +), * as %2A and keeps ~', () => {
    expect(encodeParams({ 'a b': 'c d*~', e: "(!')" })).toBe('a%20b=c%20d%2A~&e=%28%21%27%29');
  });

  it('GET carries every parameter in the query string of the endpoint path', () => {
    const prepared = prepareRequest('http://127.0.0.1:8787/?ignored=1#frag', {
      ...NODE_INSTALL,
      method: 'GET',
      params: { InstanceId: 'i-1', Note: 'a b' },
    });
    expect(prepared.method).toBe('GET');
    expect(prepared.body).toBeUndefined();
    expect(prepared.origin).toBe('http://127.0.0.1:8787');
    expect(prepared.path.startsWith('/?')).toBe(true);
    expect(prepared.url).toBe(`http://127.0.0.1:8787${prepared.path}`);
    expect(prepared.path).toContain('Note=a%20b');
    expect(prepared.path).toContain('Timestamp=2024-05-06T07%3A08%3A09Z');
    expect(prepared.path).not.toContain('ignored');
    const query = new URLSearchParams(prepared.path.slice(2));
    expect(Object.fromEntries(query)).toEqual(prepared.params);
  });

  it('POST sends a form body that decodes back to exactly the signed parameters', () => {
    const prepared = prepareRequest('http://127.0.0.1:8787', NODE_INSTALL);
    expect(prepared.method).toBe('POST');
    expect(prepared.path).toBe('/');
    expect(prepared.headers).toEqual({ 'content-type': 'application/x-www-form-urlencoded' });
    expect(prepared.body).toContain('Signature=fjOxXGDzo0%2BHd1JoKq%2BQXE%2BeU6o%3D');
    expect(Object.fromEntries(new URLSearchParams(prepared.body))).toEqual(prepared.params);
  });
});
