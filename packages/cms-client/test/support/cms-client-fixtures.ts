/**
 * The fixtures of the CloudMonitor client tests (cms-client-*.test.ts): a client with fixed credentials, clock and
 * nonces, and a CloudMonitor-like test server that checks signatures; both closed after each test.
 */
import { afterEach } from 'vitest';
import { createCmsClient, type CmsClient, type CmsClientOptions } from '../../src/index.ts';
import { json, startTestServer, type Responder, type TestServer } from './cms-test-server.ts';

export const SECRET = 'sEcReT-kEy-7f3a9c2e41b8d605';
export const ACCESS_KEY_ID = 'LTAI-test-id';
export const FIXED_NOW = new Date('2024-05-06T07:08:09.987Z');
export const USER_ID = '1234567898765432';

/**
 * Registers an afterEach that closes what the test made, and gives `serve` (a test server answering with
 * `responder`, verifying against `secret`) and `client` (a client of `endpoint`, `overrides` over the fixed options).
 */
export function useCmsFixtures() {
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

  return { serve, client };
}

/** Replies like the gateway: SignatureDoesNotMatch when the signature does not verify, else `ok`. */
export function verifying(ok: Responder): Responder {
  return (request, res) =>
    request.signatureValid
      ? ok(request, res)
      : json(400, {
          RequestId: 'R-SIG',
          Code: 'SignatureDoesNotMatch',
          Message: 'Specified signature is not matched.',
        });
}

export const installOk = verifying(() => json(200, { RequestId: 'R-OK-1', ErrorCode: 200, Success: true }));
