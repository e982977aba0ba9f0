import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulator } from '@fleet/cms-simulator';
import { createCmsClient } from '@fleet/cms-client';

const KEY = 'LTAIexactsigning01';
const SECRET = 'exact-signing-secret-01';
const sim = createSimulator({ accessKeys: { [KEY]: SECRET }, faults: { latencyMs: 1, failureRate: 0 } });
let url = '';
beforeAll(async () => {
  url = (await sim.start(0)).url;
});
afterAll(async () => {
  await sim.stop();
});

describe('exact signing (replaying an attempt)', () => {
  it('tells whether the first copy of a request arrived: SignatureNonceUsed, without re-signing, and no second install', async () => {
    const client = createCmsClient({ endpoint: url, credentials: { accessKeyId: KEY, accessKeySecret: SECRET } });
    const signing = {
      nonce: '0b5c0a4e-6a51-4a5e-9d7b-1f4f3a2c7e01',
      timestamp: new Date(Math.floor(Date.now() / 1000) * 1000),
    };
    const first = await client.nodeInstall({
      userId: '1234567898765432',
      instanceId: 'i-exact1',
      force: true,
      exactSigning: signing,
    });
    expect(first.outcome.kind).toBe('success');
    const replay = await client.nodeInstall({
      userId: '1234567898765432',
      instanceId: 'i-exact1',
      force: true,
      exactSigning: signing,
    });
    expect(replay.outcome.kind).toBe('resign');
    expect(replay.errorCode).toBe('SignatureNonceUsed');
    expect(replay.resigned).toBe(false);
    expect(sim.stats().callsByInstance['i-exact1']).toBe(1);
    // a replay of a request that never arrived is simply that request's one call
    const fresh = { nonce: '7d1f6a3c-2b4e-4c8a-9f0d-3e5b7a9c1d02', timestamp: signing.timestamp };
    expect(
      (await client.nodeInstall({ userId: '1234567898765432', instanceId: 'i-exact2', exactSigning: fresh })).outcome
        .kind,
    ).toBe('success');
    expect(sim.stats().callsByInstance['i-exact2']).toBe(1);
    await client.close();
  });
});
