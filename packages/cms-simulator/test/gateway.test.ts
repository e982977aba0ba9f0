import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  USER_ID,
  callAction,
  callJson,
  encodeParams,
  isoSeconds,
  rawRequest,
  sendParams,
  signedParams,
  startSimulator,
  testStringToSign,
  type Running,
} from './support/client.ts';

const INSTANCE = 'i-bp1h4adlltjc1d48goaq';
const UUID_UPPER = /^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/;

let running: Running;
beforeEach(async () => {
  running = await startSimulator();
});
afterEach(async () => {
  await running.sim.stop();
});

function xmlField(body: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(body)?.[1];
}

describe('accepted requests', () => {
  it.each(['GET', 'POST'] as const)(
    'a correctly signed %s NodeInstall in JSON is accepted with Success true',
    async (method) => {
      const response = await callJson(
        running.url,
        'NodeInstall',
        { UserId: USER_ID, InstanceId: INSTANCE, Force: 'true' },
        { method },
      );
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/application\/json/);
      expect(response.body).toEqual({
        RequestId: expect.stringMatching(UUID_UPPER),
        Success: true,
        ErrorCode: 200,
        ErrorMessage: '',
      });
      expect(response.headers['x-acs-request-id']).toBe(response.body.RequestId);
    },
  );

  it.each(['GET', 'POST'] as const)(
    'a correctly signed %s NodeInstall with Format=XML answers NodeInstallResponse XML',
    async (method) => {
      const response = await callAction(
        running.url,
        'NodeInstall',
        { UserId: USER_ID, InstanceId: INSTANCE },
        { method, format: 'XML' },
      );
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toMatch(/text\/xml/);
      expect(response.body).toMatch(
        new RegExp(
          /^<\?xml version="1.0" encoding="UTF-8"\?><NodeInstallResponse><RequestId>[0-9A-F-]{36}<\/RequestId>/.source +
            /<Success>true<\/Success><ErrorCode>200<\/ErrorCode><\/NodeInstallResponse>$/.source,
        ),
      );
    },
  );

  it('Format is case-insensitive and an unknown Format falls back to JSON', async () => {
    const xml = await callAction(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { format: 'xml' });
    expect(xml.body).toContain('<NodeStatusResponse>');
    const other = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { format: 'YAML' });
    expect(other.body.Status).toBe('not_installed');
  });

  it('every answer carries a fresh upper-case RequestId', async () => {
    const a = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE });
    const b = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE });
    expect(a.body.RequestId).toMatch(UUID_UPPER);
    expect(b.body.RequestId).toMatch(UUID_UPPER);
    expect(a.body.RequestId).not.toBe(b.body.RequestId);
  });

  it('accepts the versions 2016-09-22 and 2018-03-08 as well as 2017-03-01', async () => {
    for (const version of ['2016-09-22', '2018-03-08']) {
      const response = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { version });
      expect(response.status).toBe(200);
    }
  });

  it('values with spaces, reserved characters and multi-byte UTF-8 verify (query: %20; form body: + is a space)', async () => {
    // The action ignores unknown parameters, but they are signed like any other.
    const extra = { Note: "a b+c*d~e!f(g)h'i/j:k=l&m 阿里云 ✓" };
    const get = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE, ...extra });
    expect(get.status).toBe(200);

    const params = signedParams('NodeStatus', { InstanceId: INSTANCE, ...extra }, { method: 'POST' });
    const formBody = encodeParams(params).replaceAll('%20', '+');
    expect(formBody).toContain('a+b%2Bc');
    const post = await rawRequest(running.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
      body: formBody,
    });
    expect(post.status).toBe(200);
  });

  it('a literal + in a query string is data, not a space (an unencoded Base64 Signature still verifies)', async () => {
    // Find a signature with a '+' in it by varying the nonce.
    for (let i = 0; i < 200; i++) {
      const params = signedParams('NodeStatus', { InstanceId: INSTANCE }, { nonce: `nonce-plus-${i}` });
      if (!params.Signature!.includes('+')) continue;
      const query = Object.entries(params)
        .map(([name, value]) => `${name}=${name === 'Signature' ? value : encodeURIComponent(value)}`)
        .join('&');
      const response = await rawRequest(`${running.url}?${query}`);
      expect(response.status).toBe(200);
      return;
    }
    throw new Error('no signature with + found');
  });

  it('POST takes public parameters from the query and action parameters from the body, signed together', async () => {
    const params = signedParams('NodeStatus', { InstanceId: INSTANCE }, { method: 'POST' });
    const { InstanceId, ...publicParams } = params;
    const response = await rawRequest(`${running.url}?${encodeParams(publicParams)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: encodeParams({ InstanceId: InstanceId! }),
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body).InstanceId).toBe(INSTANCE);
  });

  it('the published Alibaba test vector V1 verifies (the request then fails only on its foreign Version)', async () => {
    const vectorTime = Date.parse('2016-02-23T12:46:24Z');
    const vector = await startSimulator({ accessKeys: { testid: 'testsecret' }, now: () => vectorTime });
    try {
      const query =
        'Timestamp=2016-02-23T12%3A46%3A24Z&Format=XML&AccessKeyId=testid&Action=DescribeRegions&SignatureMethod=HMAC-SHA1' +
        '&SignatureNonce=3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&Version=2014-05-26&SignatureVersion=1.0' +
        '&Signature=OLeaidS1JvxuMvnyHOwuJ%2BuX5qY%3D';
      const response = await rawRequest(`${vector.url}?${query}`);
      expect(xmlField(response.body, 'Code')).toBe('InvalidVersion');
      expect(response.status).toBe(400);
    } finally {
      await vector.sim.stop();
    }
  });
});

describe('signature verification', () => {
  const actionParams = { UserId: USER_ID, InstanceId: INSTANCE, Force: 'true' };

  /** Changes one character of a value to a different character of the same kind. */
  function alterOneByte(value: string): string {
    const index = Math.floor(value.length / 2);
    const char = value[index]!;
    const replacement = /[0-9]/.test(char)
      ? String((Number(char) + 1) % 10)
      : char === 'a'
        ? 'b'
        : char === 'A'
          ? 'B'
          : /[a-z]/.test(char)
            ? 'a'
            : 'A';
    return value.slice(0, index) + replacement + value.slice(index + 1);
  }

  it.each(['GET', 'POST'] as const)(
    '%s: one altered byte in any signed parameter -> 400 SignatureDoesNotMatch naming the server string to sign',
    async (method) => {
      const original = signedParams('NodeInstall', actionParams, { method });
      const names = Object.keys(original).filter((name) => name !== 'Signature');
      expect(names).toHaveLength(11);
      for (const name of names) {
        const tampered = { ...original, [name]: alterOneByte(original[name]!) };
        if (name === 'Timestamp') tampered.Timestamp = isoSeconds(Date.parse(original.Timestamp!) + 1000);
        const response = await sendParams(running.url, method, tampered);
        const body = JSON.parse(response.body);
        // An altered AccessKeyId, SignatureMethod or SignatureVersion is refused by its own earlier check.
        if (name === 'AccessKeyId') {
          expect(response.status, name).toBe(404);
          expect(body.Code, name).toBe('InvalidAccessKeyId.NotFound');
          continue;
        }
        if (name === 'SignatureMethod') {
          expect(body.Code, name).toBe('InvalidSignatureMethod');
          continue;
        }
        if (name === 'SignatureVersion') {
          expect(body.Code, name).toBe('InvalidSignatureVersion');
          continue;
        }
        expect(response.status, name).toBe(400);
        expect(body.Code, name).toBe('SignatureDoesNotMatch');
        const expected = testStringToSign(method, tampered);
        expect(body.Message, name).toBe(
          `Specified signature is not matched with our calculation. server string to sign is:${expected}`,
        );
      }
    },
  );

  it('one altered byte in the Signature -> SignatureDoesNotMatch', async () => {
    const params = signedParams('NodeInstall', actionParams);
    const signature = params.Signature!;
    const altered = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    const response = await sendParams(running.url, 'GET', { ...params, Signature: altered });
    expect(response.status).toBe(400);
    const body = JSON.parse(response.body);
    expect(body.Code).toBe('SignatureDoesNotMatch');
    expect(body.Message).toContain(`server string to sign is:${testStringToSign('GET', params)}`);
  });

  it('a GET signature replayed as POST does not verify: the method is part of the string to sign', async () => {
    const params = signedParams('NodeStatus', { InstanceId: INSTANCE }, { method: 'GET' });
    const response = await sendParams(running.url, 'POST', params);
    const body = JSON.parse(response.body);
    expect(body.Code).toBe('SignatureDoesNotMatch');
    expect(body.Message).toContain('server string to sign is:POST&%2F&');
  });

  it('signed with the wrong secret -> SignatureDoesNotMatch, in XML when Format=XML', async () => {
    const response = await callAction(running.url, 'NodeInstall', actionParams, {
      secret: 'not-the-secret',
      format: 'XML',
    });
    expect(response.status).toBe(400);
    expect(response.body).toMatch(
      new RegExp(
        /^<\?xml version="1.0" encoding="UTF-8"\?><Error><RequestId>[0-9A-F-]{36}<\/RequestId>/.source +
          /<HostId>metrics.cn-hangzhou.aliyuncs.com<\/HostId><Code>SignatureDoesNotMatch<\/Code><Message>/.source,
      ),
    );
    expect(response.body).toContain('<Recommend>');
    expect(xmlField(response.body, 'Message')).toContain('server string to sign is:GET&amp;%2F&amp;AccessKeyId%3D');
  });

  it('unknown AccessKeyId -> 404 InvalidAccessKeyId.NotFound with the full gateway error document', async () => {
    const response = await callJson(running.url, 'NodeInstall', actionParams, { accessKeyId: 'LTAIunknown' });
    expect(response.status).toBe(404);
    expect(response.body).toEqual({
      RequestId: expect.stringMatching(UUID_UPPER),
      HostId: 'metrics.cn-hangzhou.aliyuncs.com',
      Code: 'InvalidAccessKeyId.NotFound',
      Message: 'Specified access key is not found.',
      Recommend: expect.any(String),
    });
  });

  it.each([
    ['16 minutes in the past', -16 * 60_000],
    ['16 minutes in the future', 16 * 60_000],
  ])('Timestamp %s -> 400 InvalidTimeStamp.Expired', async (_label, offset) => {
    const response = await callJson(running.url, 'NodeInstall', actionParams, {
      timestamp: isoSeconds(Date.now() + offset),
    });
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('InvalidTimeStamp.Expired');
  });

  it('Timestamp 14 minutes off is still accepted', async () => {
    const response = await callJson(running.url, 'NodeInstall', actionParams, {
      timestamp: isoSeconds(Date.now() - 14 * 60_000),
    });
    expect(response.status).toBe(200);
  });

  it.each([
    '2024-01-01T00:00:00.000Z',
    '2024-01-01 00:00:00',
    '2024-02-30T00:00:00Z',
    'yesterday',
    '2024-01-01T00:00:00+08:00',
  ])('Timestamp %j -> 400 InvalidTimeStamp.Format', async (timestamp) => {
    const response = await callJson(running.url, 'NodeInstall', actionParams, { timestamp });
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('InvalidTimeStamp.Format');
  });

  it('a SignatureNonce used twice -> the second is refused with SignatureNonceUsed, even with a fresh Timestamp', async () => {
    const first = await callJson(running.url, 'NodeInstall', actionParams, { nonce: 'fixed-nonce-1' });
    expect(first.status).toBe(200);
    const second = await callJson(running.url, 'NodeInstall', actionParams, {
      nonce: 'fixed-nonce-1',
      timestamp: isoSeconds(Date.now() + 1000),
    });
    expect(second.status).toBe(400);
    expect(second.body.Code).toBe('SignatureNonceUsed');
  });

  it('a nonce is remembered for 15 minutes only (injected clock)', async () => {
    let clock = Date.parse('2025-01-01T00:00:00Z');
    const timed = await startSimulator({ now: () => clock });
    try {
      const send = () =>
        callJson(timed.url, 'NodeStatus', { InstanceId: INSTANCE }, { nonce: 'n-1', timestamp: isoSeconds(clock) });
      expect((await send()).status).toBe(200);
      clock += 14 * 60_000;
      expect((await send()).body.Code).toBe('SignatureNonceUsed');
      clock += 2 * 60_000;
      expect((await send()).status).toBe(200);
    } finally {
      await timed.sim.stop();
    }
  });

  it('a badly signed request does not use up its nonce', async () => {
    const bad = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { nonce: 'n-2', secret: 'wrong' });
    expect(bad.body.Code).toBe('SignatureDoesNotMatch');
    const good = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { nonce: 'n-2' });
    expect(good.status).toBe(200);
  });

  it.each([
    'Action',
    'Version',
    'AccessKeyId',
    'Signature',
    'SignatureMethod',
    'SignatureVersion',
    'SignatureNonce',
    'Timestamp',
  ])('missing %s -> 400 Missing<Name>', async (name) => {
    const response = await callJson(running.url, 'NodeInstall', actionParams, { omit: [name] });
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe(`Missing${name}`);
    expect(response.body.Message).toBe(`${name} is mandatory for this action.`);
  });

  it.each(['UserId', 'InstanceId'])('NodeInstall without %s -> 400 Missing<Name>', async (name) => {
    const params: Record<string, string> = { ...actionParams };
    delete params[name];
    const response = await callJson(running.url, 'NodeInstall', params);
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe(`Missing${name}`);
  });

  it('SignatureMethod HMAC-SHA256 -> 400 InvalidSignatureMethod', async () => {
    const params = signedParams('NodeStatus', { InstanceId: INSTANCE, SignatureMethod: 'HMAC-SHA256' });
    const response = await sendParams(running.url, 'GET', params);
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).Code).toBe('InvalidSignatureMethod');
  });

  it('an unknown Action -> 404 InvalidAction.NotFound', async () => {
    const response = await callJson(running.url, 'DescribeMonitoringAgentStatuses', { InstanceIds: INSTANCE });
    expect(response.status).toBe(404);
    expect(response.body.Code).toBe('InvalidAction.NotFound');
  });

  it('an unsupported Version -> 400 InvalidVersion', async () => {
    const response = await callJson(running.url, 'NodeStatus', { InstanceId: INSTANCE }, { version: '2099-01-01' });
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('InvalidVersion');
  });

  it('a PUT is refused with a gateway error document', async () => {
    const response = await rawRequest(running.url, { method: 'PUT' });
    expect(response.status).toBe(405);
    expect(JSON.parse(response.body).Code).toBe('UnsupportedHTTPMethod');
  });

  it('serves the API on any path, signing with "/" as the gateway does', async () => {
    const params = signedParams('NodeStatus', { InstanceId: INSTANCE });
    const response = await rawRequest(`${running.url}some/path?${encodeParams(params)}`);
    expect(response.status).toBe(200);
  });

  it('counts gateway refusals as rejected and by code', async () => {
    await callJson(running.url, 'NodeInstall', actionParams, { secret: 'wrong' });
    await callJson(running.url, 'NodeInstall', actionParams, { accessKeyId: 'nobody' });
    const stats = running.sim.stats();
    expect(stats.rejected).toBe(2);
    expect(stats.requests).toBe(0);
    expect(stats.byAction).toEqual({ NodeInstall: 2 });
    expect(stats.byCode).toEqual({ SignatureDoesNotMatch: 1, 'InvalidAccessKeyId.NotFound': 1 });
  });
});
