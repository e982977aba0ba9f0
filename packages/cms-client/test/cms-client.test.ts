import { afterEach, describe, expect, it } from 'vitest';
import { FleetError } from '@fleet/errors';
import { createCmsClient, normalizeNodeStatus, type CmsClient, type CmsClientOptions } from '../src/index.ts';
import { json, startTestServer, unusedPort, type Responder, type TestServer } from './support/cms-test-server.ts';

const SECRET = 'sEcReT-kEy-7f3a9c2e41b8d605';
const ACCESS_KEY_ID = 'LTAI-test-id';
const FIXED_NOW = new Date('2024-05-06T07:08:09.987Z');
const USER_ID = '1234567898765432';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function serve(responder: Responder, secret = SECRET): Promise<TestServer> {
  const server = await startTestServer(secret, responder);
  cleanups.push(() => server.close());
  return server;
}

function client(endpoint: string, overrides: Partial<CmsClientOptions> = {}): CmsClient {
  let counter = 0;
  const cms = createCmsClient({
    endpoint,
    credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET },
    now: () => FIXED_NOW,
    nonce: () => `nonce-${(counter += 1)}`,
    ...overrides,
  });
  cleanups.push(() => cms.close());
  return cms;
}

/** Replies like the gateway: SignatureDoesNotMatch when the signature does not verify, else `ok`. */
function verifying(ok: Responder): Responder {
  return (request, res) =>
    request.signatureValid
      ? ok(request, res)
      : json(400, {
          RequestId: 'R-SIG',
          Code: 'SignatureDoesNotMatch',
          Message: 'Specified signature is not matched.',
        });
}

const installOk = verifying(() => json(200, { RequestId: 'R-OK-1', ErrorCode: 200, Success: true }));

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

describe('timeouts and network errors', () => {
  it('a server that never answers yields a retryable Timeout within about timeoutMs', async () => {
    const server = await serve(() => 'hang');
    const cms = client(server.url, { timeoutMs: 300 });
    const before = performance.now();
    const result = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    const elapsed = performance.now() - before;
    expect(result.outcome).toEqual({ kind: 'retryable', reason: 'no complete response within 300 ms' });
    expect(result.errorCode).toBe('Timeout');
    expect(result.httpStatus).toBeNull();
    expect(result.requestId).toBeNull();
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
  });

  it('a server that sends headers and then stalls the body also times out', async () => {
    const server = await serve((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"RequestId":"R-STALL",');
      return 'manual';
    });
    const cms = client(server.url, { timeoutMs: 300 });
    const before = performance.now();
    const result = await cms.nodeStatus({ instanceId: 'i-1' });
    expect(result.errorCode).toBe('Timeout');
    expect(result.outcome.kind).toBe('retryable');
    expect(performance.now() - before).toBeLessThan(2000);
  });

  it('connection refused yields a retryable NetworkError naming ECONNREFUSED', async () => {
    const port = await unusedPort();
    const result = await client(`http://127.0.0.1:${port}/`).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(result.outcome.kind).toBe('retryable');
    expect(result.outcome.kind === 'retryable' && result.outcome.reason).toMatch(/^network error ECONNREFUSED: /);
    expect(result.errorCode).toBe('NetworkError');
    expect(result.errorMessage).toMatch(/^ECONNREFUSED: /);
    expect(result.httpStatus).toBeNull();
  });

  it('a server that drops the connection mid-request yields a retryable NetworkError', async () => {
    const server = await serve((_request, res) => {
      res.socket?.destroy();
      return 'manual';
    });
    const result = await client(server.url).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(result.outcome.kind).toBe('retryable');
    expect(result.errorCode).toBe('NetworkError');
    expect(result.errorMessage).toMatch(/^UND_ERR_SOCKET: /);
  });
});

describe('re-signing', () => {
  it('retries once with a fresh nonce after InvalidTimeStamp.Expired and reports resigned: true', async () => {
    let call = 0;
    const server = await serve(
      verifying(() =>
        (call += 1) === 1
          ? json(400, {
              RequestId: 'R-EXP',
              Code: 'InvalidTimeStamp.Expired',
              Message: 'Specified time stamp or date value is expired.',
            })
          : json(200, { RequestId: 'R-AFTER', ErrorCode: 200, Success: true }),
      ),
    );
    const result = await client(server.url).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(server.requests.map((r) => r.params['SignatureNonce'])).toEqual(['nonce-1', 'nonce-2']);
    expect(server.requests.every((r) => r.signatureValid)).toBe(true);
    expect(result.outcome).toEqual({ kind: 'success' });
    expect(result.resigned).toBe(true);
    expect(result.requestId).toBe('R-AFTER');
    expect(result.requestIds).toEqual(['R-EXP', 'R-AFTER']);
  });

  it('re-signs only once: a second SignatureNonceUsed is returned as a resign outcome', async () => {
    const server = await serve(() =>
      json(400, { RequestId: 'R-N', Code: 'SignatureNonceUsed', Message: 'nonce used' }),
    );
    const result = await client(server.url).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(server.requests).toHaveLength(2);
    expect(result.outcome).toEqual({ kind: 'resign', reason: 'SignatureNonceUsed (HTTP 400): nonce used' });
    expect(result.resigned).toBe(true);
  });

  it('the re-signed retry shares the timeoutMs budget: the whole call ends within about timeoutMs', async () => {
    let call = 0;
    const server = await serve((_request, res) => {
      if ((call += 1) === 1) {
        setTimeout(() => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ RequestId: 'R-SLOW', Code: 'InvalidTimeStamp.Expired', Message: 'expired' }));
        }, 250);
        return 'manual';
      }
      return 'hang';
    });
    const before = performance.now();
    const result = await client(server.url, { timeoutMs: 400 }).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    const elapsed = performance.now() - before;
    expect(server.requests).toHaveLength(2);
    expect(result.resigned).toBe(true);
    expect(result.errorCode).toBe('Timeout');
    expect(result.requestIds).toEqual(['R-SLOW']);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(600);
  });

  it('does not retry any other failure', async () => {
    const server = await serve(() => json(503, { RequestId: 'R-5', Code: 'ServiceUnavailable', Message: 'busy' }));
    const result = await client(server.url).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    expect(server.requests).toHaveLength(1);
    expect(result.outcome.kind).toBe('retryable');
    expect(result.resigned).toBe(false);
  });
});

describe('connection reuse', () => {
  it('sequential calls reuse one keep-alive connection', async () => {
    const server = await serve(installOk);
    const cms = client(server.url);
    for (let i = 0; i < 5; i += 1) {
      const result = await cms.nodeInstall({ userId: USER_ID, instanceId: `i-${i}` });
      expect(result.outcome.kind).toBe('success');
    }
    expect(server.requests).toHaveLength(5);
    expect(server.connectionCount()).toBe(1);
    expect(new Set(server.requests.map((r) => r.socketId))).toEqual(new Set([1]));
  });

  it('close() is idempotent and a call after close throws a FleetError', async () => {
    const server = await serve(installOk);
    const cms = client(server.url);
    await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    await Promise.all([cms.close(), cms.close()]);
    await expect(cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' })).rejects.toMatchObject({
      name: 'FleetError',
      code: 'cms_client_closed',
    });
  });
});

describe('nodeStatusList', () => {
  it('chunks ids, de-duplicates them, and maps statuses; a failed chunk leaves its ids unresolved', async () => {
    const server = await serve(
      verifying((request) => {
        const ids = (request.params['InstanceIds'] ?? '').split(',');
        if (ids.includes('i-e')) return json(500, { RequestId: 'R-FAIL', Code: 'InternalError', Message: 'oops' });
        const statuses: Record<string, string> = { 'i-a': 'Running', 'i-b': 'install_faild', 'i-c': 'NOT_INSTALLED' };
        return json(200, {
          RequestId: `R-${ids.join('')}`,
          Success: true,
          ErrorCode: 200,
          NodeStatusList: {
            NodeStatus: ids
              .filter((id) => id !== 'i-d')
              .map((id) => ({ InstanceId: id, Status: statuses[id] ?? 'weird', AutoInstall: id === 'i-a' })),
          },
        });
      }),
    );
    const cms = client(server.url, { statusListChunkSize: 2 });
    const result = await cms.nodeStatusList({ instanceIds: ['i-a', 'i-b', 'i-a', 'i-c', 'i-d', 'i-e'] });

    expect(server.requests.map((r) => r.params['InstanceIds'])).toEqual(['i-a,i-b', 'i-c,i-d', 'i-e']);
    expect(result.chunks.map((c) => c.outcome.kind)).toEqual(['success', 'success', 'retryable']);
    expect(result.chunks.map((c) => c.instanceIds)).toEqual([['i-a', 'i-b'], ['i-c', 'i-d'], ['i-e']]);
    expect(result.chunks[0]!.nodes).toEqual([
      { instanceId: 'i-a', status: 'running', rawStatus: 'Running', autoInstall: true },
      { instanceId: 'i-b', status: 'install_faild', rawStatus: 'install_faild', autoInstall: false },
    ]);
    expect(result.chunks[2]!.requestId).toBe('R-FAIL');
    expect(result.chunks[2]!.nodes).toEqual([]);
    expect([...result.statuses]).toEqual([
      ['i-a', 'running'],
      ['i-b', 'install_faild'],
      ['i-c', 'not_installed'],
    ]);
    expect(result.unresolved).toEqual(['i-d', 'i-e']);
  });

  it('an empty id list makes no call', async () => {
    const server = await serve(installOk);
    const result = await client(server.url).nodeStatusList({ instanceIds: [] });
    expect(server.requests).toHaveLength(0);
    expect(result).toEqual({ chunks: [], statuses: new Map(), unresolved: [] });
  });

  it('an id containing a comma is a programmer error', async () => {
    const server = await serve(installOk);
    await expect(client(server.url).nodeStatusList({ instanceIds: ['i-a,i-b'] })).rejects.toMatchObject({
      code: 'cms_client_argument_invalid',
    });
  });
});

describe('the AccessKey secret never leaks', () => {
  it('is absent from results even when the server echoes it back, and from network error results', async () => {
    const server = await serve((request) =>
      json(400, {
        RequestId: `R-${SECRET}`,
        HostId: SECRET,
        Code: 'SignatureDoesNotMatch',
        Message: `The request signature does not conform to Aliyun standards. server string to sign is:${request.params['Signature']} key ${SECRET}&`,
        Recommend: `https://example.invalid/?k=${SECRET}`,
      }),
    );
    const cms = client(server.url);
    const echoed = await cms.nodeInstall({ userId: USER_ID, instanceId: 'i-1' });
    const status = await cms.nodeStatus({ instanceId: 'i-1' });
    const list = await cms.nodeStatusList({ instanceIds: ['i-1', 'i-2'] });
    const raw = await cms.call('NodeStatus', { InstanceId: 'i-1' });
    const port = await unusedPort();
    const refused = await client(`http://127.0.0.1:${port}/`).nodeInstall({ userId: USER_ID, instanceId: 'i-1' });

    expect(echoed.outcome.kind).toBe('fleet_wide');
    expect(echoed.hostId).toBe('[REDACTED]');
    expect(echoed.requestId).toBe('R-[REDACTED]');
    const serialized = JSON.stringify([echoed, status, { ...list, statuses: [...list.statuses] }, raw, refused]);
    expect(serialized).toContain('[REDACTED]');
    expect(serialized).not.toContain(SECRET);
    // Nor is it sent: no request parameter carries it.
    expect(JSON.stringify(server.requests)).not.toContain(SECRET);
  });

  it('is absent from option errors', () => {
    const attempts: Array<Partial<CmsClientOptions>> = [
      { endpoint: 'not a url' },
      { endpoint: 'ftp://x/' },
      { timeoutMs: -1 },
      { timeoutMs: 2 ** 31 },
      { maxConnections: 0 },
      { statusListChunkSize: 1.5 },
      { credentials: { accessKeyId: '', accessKeySecret: SECRET } },
      { method: 'PUT' as 'GET' },
    ];
    for (const overrides of attempts) {
      let thrown: unknown = null;
      try {
        createCmsClient({
          endpoint: 'http://127.0.0.1:1/',
          credentials: { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET },
          ...overrides,
        });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(FleetError);
      expect((thrown as FleetError).code).toBe('cms_client_options_invalid');
      expect(`${(thrown as Error).message} ${(thrown as Error).stack} ${JSON.stringify(thrown)}`).not.toContain(SECRET);
    }
  });

  it('an empty secret is refused without echoing anything', () => {
    expect(() =>
      createCmsClient({ endpoint: 'http://127.0.0.1:1/', credentials: { accessKeyId: 'id', accessKeySecret: '' } }),
    ).toThrow('createCmsClient: credentials.accessKeySecret must be a non-empty string');
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
