/** The CloudMonitor client when the network fails it (timeouts, refused and dropped connections), and how it reuses and closes its connections. */
import { describe, expect, it } from 'vitest';
import { unusedPort } from './support/cms-test-server.ts';
import { USER_ID, installOk, useCmsFixtures } from './support/cms-client-fixtures.ts';

const { serve, client } = useCmsFixtures();

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
