import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { dingTalkSign, dingTalkSignedUrl, generateSigningSecret, signStandardWebhook } from '../src/index.ts';

describe('Standard Webhooks signing', () => {
  it('makes whsec_ secrets of 32 random bytes', () => {
    const secret = generateSigningSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(Buffer.from(secret.slice(6), 'base64')).toHaveLength(32);
    expect(generateSigningSecret()).not.toBe(secret);
  });

  it('signs so that the standardwebhooks package verifies the message', () => {
    const secret = generateSigningSecret();
    const body = JSON.stringify({ type: 'rollout.completed', timestamp: '2026-12-02T05:00:00.000Z', data: { a: 1 } });
    const headers = signStandardWebhook({
      messageId: 'b7a0a7f6-9a43-4c40-8d5a-3a3c4c7e2d11',
      timestampSeconds: Date.now() / 1000,
      body,
      secrets: [secret],
    });
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(body, headers)).toEqual(JSON.parse(body));
  });

  it('signs with both secrets during a rotation, and a receiver holding either verifies', () => {
    const [current, previous] = [generateSigningSecret(), generateSigningSecret()];
    const body = '{"type":"webhook.test"}';
    const headers = signStandardWebhook({
      messageId: 'msg-1',
      timestampSeconds: Date.now() / 1000,
      body,
      secrets: [current, previous],
    });
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(() => new Webhook(current).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(previous).verify(body, headers)).not.toThrow();
    expect(() => new Webhook(generateSigningSecret()).verify(body, headers)).toThrow();
  });

  it('is refused by a receiver when the body was changed on the way', () => {
    const secret = generateSigningSecret();
    const headers = signStandardWebhook({
      messageId: 'msg-2',
      timestampSeconds: Date.now() / 1000,
      body: '{"a":1}',
      secrets: [secret],
    });
    expect(() => new Webhook(secret).verify('{"a":2}', headers)).toThrow();
  });
});

describe('DingTalk robot sign', () => {
  // Computed with Python's hmac, hashlib, base64 and urllib.parse.quote_plus, not with this code.
  const EXPECTED = 'TSZbRFUuvaSQaRKUpF970OPCb2%2FLcQAP3wOvwZIzBZk%3D';

  it('is the URL-encoded base64 HMAC-SHA256 of timestamp + "\\n" + secret, keyed by the secret', () => {
    expect(dingTalkSign('SEC0123456789abcdef', 1_700_000_000_000)).toBe(EXPECTED);
  });

  it('is appended with the timestamp after the access token', () => {
    expect(
      dingTalkSignedUrl(
        'https://oapi.dingtalk.com/robot/send?access_token=abc',
        'SEC0123456789abcdef',
        1_700_000_000_000,
      ),
    ).toBe(`https://oapi.dingtalk.com/robot/send?access_token=abc&timestamp=1700000000000&sign=${EXPECTED}`);
  });
});
