import { describe, expect, it } from 'vitest';
import { isSecretUrlKind, maskSecretUrl } from '../src/index.ts';

describe('maskSecretUrl', () => {
  it.each([
    [
      'a Slack incoming webhook',
      'https://hooks.slack.com/services/T0AB12CD3/B0EF45GH6/abcdefghijklmnopqrstabcd',
      'https://hooks.slack.com/services/T0…/…abcd',
    ],
    [
      'a DingTalk robot (its token in the query)',
      'https://oapi.dingtalk.com/robot/send?access_token=0f1e2d3c4b5a69788796a5b4c3d2e1f01234',
      'https://oapi.dingtalk.com/robot/send?access_token=…1234',
    ],
    [
      'a port, a user and a fragment',
      'https://user:pw@chat.example.com:8443/hooks/abcdefghij1234#x',
      'https://chat.example.com:8443/hooks/ab…1234',
    ],
    ['a short piece, masked whole', 'https://chat.example.com/hooks/short', 'https://chat.example.com/hooks/…'],
    ['no path', 'https://chat.example.com/', 'https://chat.example.com/'],
  ])('%s keeps scheme and host and masks the rest', (_, url, masked) => {
    expect(maskSecretUrl(url)).toBe(masked);
  });

  it('treats the chat kinds as secret URLs, and standard as not', () => {
    expect([isSecretUrlKind('slack'), isSecretUrlKind('dingtalk'), isSecretUrlKind('standard')]).toEqual([
      true,
      true,
      false,
    ]);
  });
});
