import { describe, expect, it } from 'vitest';
import { USER_ID, isoSeconds, rawRequest, useSimulators } from './support/client.ts';
import { callV3, signV3 } from './support/v3-client.ts';

/** The gateway's V3 (`ACS3-HMAC-SHA256`) check, driven over HTTP with the tests' own V3 signer. */

const simulator = useSimulators();
const INSTANCE = 'i-bp1h4adlltjc1d48goaq';

describe('V3 requests that verify', () => {
  it('a signed NodeStatus with its parameters in the query is answered by the action', async () => {
    const { url } = await simulator();
    const response = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ Success: true, InstanceId: INSTANCE, Status: 'not_installed' });
  });

  it('a POST with the action parameters in a form body verifies: the body hash is part of what is signed', async () => {
    const { url, sim } = await simulator();
    const response = await callV3(url, 'NodeInstall', { UserId: USER_ID, InstanceId: INSTANCE }, { paramsIn: 'body' });
    expect(response.status).toBe(200);
    expect(response.body).toMatchObject({ Success: true, ErrorCode: 200 });
    expect(sim.stats().installsByInstance[INSTANCE]).toBe(1);
  });

  it('a GET verifies, and values with spaces, *, ~, an empty value and multi-byte UTF-8 are canonicalised', async () => {
    const { url } = await simulator();
    const response = await callV3(
      url,
      'NodeStatusList',
      { InstanceIds: `${INSTANCE},i-22jja5c2l`, Note: 'a b*c~d 阿里云', Empty: '' },
      { method: 'GET' },
    );
    expect(response.status).toBe(200);
    expect(response.body.Success).toBe(true);
  });

  it('the action, version and AccessKey come from the headers: stats count the action by name', async () => {
    const { url, sim } = await simulator();
    await callV3(url, 'NodeStatus', { InstanceId: INSTANCE });
    expect(sim.stats().byAction).toEqual({ NodeStatus: 1 });
  });
});

describe('V3 requests the gateway refuses', () => {
  it('the wrong secret -> SignatureDoesNotMatch carrying the server canonical request and string to sign', async () => {
    const { url } = await simulator();
    const signed = signV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { secret: 'not-the-secret' });
    const raw = await rawRequest(signed.request.url, signed.request);
    const body = JSON.parse(raw.body) as Record<string, string>;
    expect(raw.status).toBe(400);
    expect(body.Code).toBe('SignatureDoesNotMatch');
    // The signer and the server canonicalised alike; only the key differs, so the message shows the same texts.
    expect(body.Message).toContain(`server canonical request is:${signed.canonicalRequest}`);
    expect(body.Message).toContain(`server string to sign is:${signed.stringToSign}`);
  });

  it('a body changed after signing -> SignatureDoesNotMatch (the server hashes the bytes it received)', async () => {
    const { url } = await simulator();
    const response = await callV3(
      url,
      'NodeInstall',
      { UserId: USER_ID, InstanceId: INSTANCE },
      { paramsIn: 'body', tamperBody: (body) => body.replace(INSTANCE, 'i-other') },
    );
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('SignatureDoesNotMatch');
  });

  it('an x-acs-* header left out of SignedHeaders -> IncompleteSignature naming it', async () => {
    const { url } = await simulator();
    const response = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { unsigned: ['x-acs-signature-nonce'] });
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('IncompleteSignature');
    expect(response.body.Message).toContain('x-acs-signature-nonce');
  });

  it('an unsigned x-acs-* header added after signing -> IncompleteSignature', async () => {
    const { url } = await simulator();
    const response = await callV3(
      url,
      'NodeStatus',
      { InstanceId: INSTANCE },
      { extraHeaders: { 'x-acs-extra': '1' } },
    );
    expect(response.body.Code).toBe('IncompleteSignature');
    expect(response.body.Message).toContain('x-acs-extra');
  });

  it('an Authorization without Signature -> IncompleteSignature', async () => {
    const { url } = await simulator();
    const response = await callV3(
      url,
      'NodeStatus',
      { InstanceId: INSTANCE },
      { authorization: 'ACS3-HMAC-SHA256 Credential=x,SignedHeaders=host' },
    );
    expect(response.status).toBe(400);
    expect(response.body.Code).toBe('IncompleteSignature');
    expect(response.body.Message).toContain('Signature');
  });

  it('another V3 algorithm -> InvalidSignatureMethod', async () => {
    const { url } = await simulator();
    const response = await callV3(
      url,
      'NodeStatus',
      { InstanceId: INSTANCE },
      { authorization: 'ACS3-HMAC-SM3 Credential=x,SignedHeaders=host,Signature=00' },
    );
    expect(response.body.Code).toBe('InvalidSignatureMethod');
  });

  it('no x-acs-date -> MissingTimestamp; a date 16 minutes old -> InvalidTimeStamp.Expired', async () => {
    const { url } = await simulator();
    const missing = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { dropHeaders: ['x-acs-date'] });
    expect(missing.body.Code).toBe('MissingTimestamp');
    const old = await callV3(
      url,
      'NodeStatus',
      { InstanceId: INSTANCE },
      { date: isoSeconds(Date.now() - 16 * 60_000) },
    );
    expect(old.body.Code).toBe('InvalidTimeStamp.Expired');
  });

  it('an unknown AccessKey -> 404 InvalidAccessKeyId.NotFound', async () => {
    const { url } = await simulator();
    const response = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { accessKeyId: 'LTAIunknown' });
    expect(response.status).toBe(404);
    expect(response.body.Code).toBe('InvalidAccessKeyId.NotFound');
  });

  it('the same x-acs-signature-nonce twice -> the second is SignatureNonceUsed', async () => {
    const { url } = await simulator();
    const first = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { nonce: 'v3-nonce-1' });
    const second = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { nonce: 'v3-nonce-1' });
    expect(first.status).toBe(200);
    expect(second.body.Code).toBe('SignatureNonceUsed');
  });

  it('a version the API does not have -> InvalidVersion, after the signature verified', async () => {
    const { url } = await simulator();
    const response = await callV3(url, 'NodeStatus', { InstanceId: INSTANCE }, { version: '2099-01-01' });
    expect(response.body.Code).toBe('InvalidVersion');
  });
});
