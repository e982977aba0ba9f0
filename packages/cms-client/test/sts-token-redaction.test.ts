import { afterEach, describe, expect, it } from 'vitest';
import { createCmsClient, percentEncode, stringToSign, type SignatureVersion } from '../src/index.ts';
import { json, startTestServer, type TestServer } from './support/cms-test-server.ts';

/**
 * An STS token is sent with every call (v1: the `SecurityToken` parameter; v3: the `x-acs-security-token` header),
 * and a gateway's SignatureDoesNotMatch answer echoes what it signed: v1 the string to sign (the token percent-encoded
 * twice), v3 the canonical request (the token as sent, in its header line). Such an answer must not carry the token
 * into a result, where the worker would log it and store it in the attempt row.
 */

const SECRET = 'sts-secret-0123456789';
// `+`, `/` and `=` so that each encoding spells it differently.
const TOKEN = 'CAIS1sts+token/with=padding0123456789abcdef';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

async function echoingGateway(): Promise<TestServer> {
  const server = await startTestServer('not-the-secret-the-client-signs-with', (request) => {
    const { Signature: _signature, ...unsigned } = request.params;
    const method = request.method === 'POST' ? 'POST' : 'GET';
    return json(400, {
      RequestId: 'R-STS',
      Code: 'SignatureDoesNotMatch',
      Message:
        `Specified signature is not matched with our calculation. server string to sign is:${stringToSign(method, unsigned)}` +
        ` server canonical request is:POST\n/\n\nx-acs-security-token:${TOKEN}\n`,
      Recommend: `https://example.invalid/?SecurityToken=${percentEncode(TOKEN)}`,
    });
  });
  cleanups.push(() => server.close());
  return server;
}

describe('an STS token never reaches a result', () => {
  it.each<SignatureVersion>(['v1', 'v3'])(
    '%s: an answer echoing it raw, percent-encoded once or twice shows [REDACTED] instead',
    async (signatureVersion) => {
      const server = await echoingGateway();
      const cms = createCmsClient({
        endpoint: server.url,
        credentials: { accessKeyId: 'STS.id', accessKeySecret: SECRET, securityToken: TOKEN },
        signatureVersion,
      });
      cleanups.push(() => cms.close());
      const result = await cms.nodeInstall({ userId: '1234567898765432', instanceId: 'i-1' });
      expect(result.outcome.kind).toBe('fleet_wide');
      const serialized = JSON.stringify(result);
      expect(serialized).toContain('[REDACTED]');
      for (const spelled of [TOKEN, percentEncode(TOKEN), percentEncode(percentEncode(TOKEN))])
        expect(serialized).not.toContain(spelled);
    },
  );
});
