/**
 * The CloudMonitor client over real HTTP: signed POST and GET calls, the STS token, XML, the results of failed,
 * throttled and malformed answers, its arguments and the normalised agent statuses.
 */
import { describe, expect, it } from 'vitest';
import { normalizeNodeStatus } from '../src/index.ts';
import { json } from './support/cms-test-server.ts';
import {
  SECRET,
  ACCESS_KEY_ID,
  FIXED_NOW,
  USER_ID,
  verifying,
  installOk,
  useCmsFixtures,
} from './support/cms-client-fixtures.ts';

const { serve, client } = useCmsFixtures();

describe('createCmsClient over real HTTP', () => {
  it('POST: sends a form body the server verifies with computeSignature, and returns a success result', async () => {
    const server = await serve(installOk);
    const cms = client(server.url);
    const result = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-bp1h4adlltjc1d48goaq', force: true });

    expect(server.requests).toHaveLength(1);
    const [request] = server.requests;
    expect(request!.method).toBe('POST');
    expect(request!.rawUrl).toBe('/');
    expect(request!.contentType).toBe('application/x-www-form-urlencoded');
    expect(request!.signatureValid).toBe(true);
    expect(request!.params).toEqual({
      Action: 'NodeInstall',
      UserId: USER_ID,
      InstanceId: 'i-bp1h4adlltjc1d48goaq',
      Force: 'true',
      Format: 'JSON',
      Version: '2017-03-01',
      AccessKeyId: ACCESS_KEY_ID,
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: 'nonce-1',
      Timestamp: '2024-05-06T07:08:09Z',
      Signature: request!.params['Signature'],
    });

    const { durationMs, ...rest } = result;
    expect(rest).toEqual({
      action: 'NodeInstall',
      outcome: { kind: 'success' },
      httpStatus: 200,
      requestId: 'R-OK-1',
      requestIds: ['R-OK-1'],
      success: true,
      errorCode: '200',
      errorMessage: null,
      hostId: null,
      recommend: null,
      resigned: false,
      startedAt: FIXED_NOW,
      finishedAt: FIXED_NOW,
    });
    expect(durationMs).toBeGreaterThanOrEqual(0);
    expect(durationMs).toBeLessThan(5000);
  });

  it('GET: every parameter travels in the query string (space as %20, * as %2A) and verifies', async () => {
    const server = await serve(verifying(() => json(200, { RequestId: 'R-G', Success: true })));
    const cms = client(server.url, { method: 'GET' });
    const result = await cms.call('NodeStatus', { InstanceId: 'i-abc', Note: 'a b*c~' });

    expect(result.outcome).toEqual({ kind: 'success' });
    const [request] = server.requests;
    expect(request!.method).toBe('GET');
    expect(request!.signatureValid).toBe(true);
    expect(request!.rawBody).toBe('');
    expect(request!.rawUrl.startsWith('/?')).toBe(true);
    expect(request!.rawUrl).toContain('Note=a%20b%2Ac~');
    expect(request!.rawUrl).not.toContain('+');
    expect(request!.params['Note']).toBe('a b*c~');
    expect(request!.params['Action']).toBe('NodeStatus');
  });

  it('a wrong secret is caught by the server and comes back as a fleet_wide SignatureDoesNotMatch', async () => {
    const server = await serve(installOk, 'the-real-secret');
    const cms = client(server.url);
    const result = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(server.requests[0]!.signatureValid).toBe(false);
    expect(result.outcome).toEqual({
      kind: 'fleet_wide',
      reason: 'SignatureDoesNotMatch (HTTP 400): Specified signature is not matched.',
    });
    expect(result.errorCode).toBe('SignatureDoesNotMatch');
    expect(result.requestId).toBe('R-SIG');
    expect(result.success).toBeNull();
  });

  it('sends and signs the STS SecurityToken', async () => {
    const server = await serve(installOk);
    const cms = client(server.url, {
      credentials: { accessKeyId: 'STS.id', accessKeySecret: SECRET, securityToken: 'sts token/+=' },
    });
    const result = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(result.outcome.kind).toBe('success');
    expect(server.requests[0]!.params['SecurityToken']).toBe('sts token/+=');
    expect(server.requests[0]!.params['AccessKeyId']).toBe('STS.id');
    expect('Force' in server.requests[0]!.params).toBe(false);
  });

  it('XML format: requests Format=XML and parses NodeStatus into a normalised status', async () => {
    const server = await serve(
      verifying(() => ({
        status: 200,
        contentType: 'text/xml',
        body:
          '<?xml version="1.0" encoding="UTF-8"?><NodeStatusResponse><RequestId>R-X</RequestId>' +
          '<ErrorCode>200</ErrorCode><Success>true</Success><InstanceId>i-a</InstanceId>' +
          '<Status>Running</Status><AutoInstall>true</AutoInstall></NodeStatusResponse>',
      })),
    );
    const cms = client(server.url, { format: 'XML' });
    const result = await cms.nodeStatus({ instanceId: 'i-a' });
    expect(server.requests[0]!.params['Format']).toBe('XML');
    expect(result.outcome).toEqual({ kind: 'success' });
    expect(result.status).toBe('running');
    expect(result.rawStatus).toBe('Running');
    expect(result.autoInstall).toBe(true);
    expect(result.instanceId).toBe('i-a');
    expect(result.requestId).toBe('R-X');
  });

  it('a failed NodeStatus has status null and a final outcome', async () => {
    const server = await serve(() =>
      json(404, { RequestId: 'R-404', Code: 'InvalidInstanceId.NotFound', Message: 'The instance does not exist.' }),
    );
    const cms = client(server.url);
    const result = await cms.nodeStatus({ instanceId: 'i-gone' });
    expect(result.outcome).toEqual({
      kind: 'final',
      reason: 'InvalidInstanceId.NotFound (HTTP 404): The instance does not exist.',
    });
    expect(result.status).toBeNull();
    expect(result.httpStatus).toBe(404);
    expect(result.errorMessage).toBe('The instance does not exist.');
  });

  it('throttling and gateway fields come back in the result', async () => {
    const server = await serve(() =>
      json(400, {
        RequestId: 'R-T',
        HostId: 'metrics.cn-hangzhou.aliyuncs.com',
        Code: 'Throttling.User',
        Message: 'Request was denied due to user flow control.',
        Recommend: 'https://next.api.aliyun.com/troubleshoot?q=Throttling.User',
      }),
    );
    const result = await client(server.url).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(result.outcome.kind).toBe('throttled');
    expect(result.errorCode).toBe('Throttling.User');
    expect(result.hostId).toBe('metrics.cn-hangzhou.aliyuncs.com');
    expect(result.recommend).toBe('https://next.api.aliyun.com/troubleshoot?q=Throttling.User');
    expect(result.resigned).toBe(false);
  });

  it('an HTML 502 page and an empty 200 body are retryable MalformedResponse results', async () => {
    let call = 0;
    const server = await serve(() =>
      (call += 1) === 1
        ? { status: 502, contentType: 'text/html', body: '<html><body><h1>502 Bad Gateway</h1></body></html>' }
        : { status: 200, body: '' },
    );
    const cms = client(server.url);
    const html = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(html.outcome).toEqual({ kind: 'retryable', reason: 'malformed response (HTTP 502): HTML page (text/html)' });
    expect(html.errorCode).toBe('MalformedResponse');
    expect(html.errorMessage).toBe(
      'HTML page (text/html); body starts: <html><body><h1>502 Bad Gateway</h1></body></html>',
    );
    const empty = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(empty.outcome).toEqual({ kind: 'retryable', reason: 'malformed response (HTTP 200): empty body' });
    expect(empty.httpStatus).toBe(200);
  });

  it('a body larger than maxResponseBytes is a malformed result, not an unbounded read', async () => {
    const server = await serve(() => ({ status: 200, body: `{"RequestId":"${'x'.repeat(5000)}","Success":true}` }));
    const result = await client(server.url, { maxResponseBytes: 1024 }).nodeInstall({
      userId: USER_ID,
      instanceId: 'i-1',
    });
    expect(result.outcome).toEqual({
      kind: 'retryable',
      reason: 'malformed response (HTTP 200): body longer than 1024 bytes',
    });
  });
});

describe('argument validation', () => {
  it('refuses a numeric userId (a 16-digit UID cannot survive as a JS number)', async () => {
    const server = await serve(installOk);
    const cms = client(server.url);
    await expect(
      cms.nodeInstall({ userId: 1234567898765432 as unknown as string, instanceId: 'i-1' }),
    ).rejects.toMatchObject({ code: 'cms_client_argument_invalid' });
    expect(server.requests).toHaveLength(0);
  });
});

describe('normalizeNodeStatus', () => {
  it.each([
    ['running', 'running'],
    ['Running', 'running'],
    ['STOPPED', 'stopped'],
    ['Not_Installed', 'not_installed'],
    ['not installed', 'not_installed'],
    ['installing', 'installing'],
    ['install_faild', 'install_faild'],
    ['install_failed', 'install_faild'],
    ['Need_To_Upgrade', 'need_to_upgrade'],
    ['uninstalled', 'uninstalled'],
    ['abnormal', 'abnormal'],
    ['exploded', 'unknown'],
    ['', 'unknown'],
    [null, 'unknown'],
  ] as const)('%j -> %s', (raw, expected) => {
    expect(normalizeNodeStatus(raw)).toBe(expected);
  });
});
