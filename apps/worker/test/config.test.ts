import { describe, expect, it } from 'vitest';
import { redactConfig } from '@fleet/config';
import { loadWorkerConfig } from '../src/config.ts';

describe('worker config', () => {
  it('targets the local simulator with its built-in key pair by default', () => {
    const config = loadWorkerConfig({});
    expect(config).toMatchObject({
      CMS_ENDPOINT: 'http://127.0.0.1:8787/',
      CMS_TIMEOUT_MS: 10_000,
      CMS_METHOD: 'POST',
      CMS_SIGNATURE_VERSION: 'v1',
      QUEUE_PREFIX: 'fleet',
    });
    expect(config.CMS_ACCESS_KEY_ID.length).toBeGreaterThan(0);
  });

  it('names the variable at fault', () => {
    expect(() => loadWorkerConfig({ CMS_ENDPOINT: 'nope' })).toThrow(/^CMS_ENDPOINT:/);
    expect(() => loadWorkerConfig({ CMS_TIMEOUT_MS: '-5' })).toThrow(/^CMS_TIMEOUT_MS:/);
    expect(() => loadWorkerConfig({ CMS_METHOD: 'PUT' })).toThrow(/^CMS_METHOD:/);
    expect(() => loadWorkerConfig({ CMS_SIGNATURE_VERSION: 'v2' })).toThrow(
      /^CMS_SIGNATURE_VERSION: expected v1 or v3/,
    );
    expect(loadWorkerConfig({ CMS_SIGNATURE_VERSION: 'v3' }).CMS_SIGNATURE_VERSION).toBe('v3');
    expect(() => loadWorkerConfig({ CMS_ACCESS_KEY_SECRET: '' })).toThrow(/^CMS_ACCESS_KEY_SECRET:/);
  });

  it('reads SEND_THREAD_NICE from -20 to 19, unset when not given (the worker then asks for its default, -10)', () => {
    expect(loadWorkerConfig({}).SEND_THREAD_NICE).toBeUndefined();
    expect(loadWorkerConfig({ SEND_THREAD_NICE: '' }).SEND_THREAD_NICE).toBeUndefined();
    expect(loadWorkerConfig({ SEND_THREAD_NICE: '-10' }).SEND_THREAD_NICE).toBe(-10);
    for (const bad of ['-21', '20', '1.5', 'high'])
      expect(() => loadWorkerConfig({ SEND_THREAD_NICE: bad })).toThrow(
        /^SEND_THREAD_NICE: expected an integer from -20 to 19/,
      );
  });

  it('never shows the AccessKey secret, the STS token or a password in the logged config', () => {
    const config = loadWorkerConfig({
      CMS_ACCESS_KEY_SECRET: 'topsecret-value',
      CMS_SECURITY_TOKEN: 'sts-token-value',
      DATABASE_URL: 'postgresql://app:pw-value@db:5432/fleet',
    });
    const shown = JSON.stringify(redactConfig(config));
    expect(shown).not.toContain('topsecret-value');
    expect(shown).not.toContain('sts-token-value');
    expect(shown).not.toContain('pw-value');
    expect(shown).toContain('CMS_ACCESS_KEY_ID');
  });
});
