/** The CloudMonitor client re-signing once after an expired timestamp or a used nonce, within the same time budget. */
import { describe, expect, it } from 'vitest';
import { json } from './support/cms-test-server.ts';
import { USER_ID, verifying, useCmsFixtures } from './support/cms-client-fixtures.ts';

const { serve, client } = useCmsFixtures();

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
