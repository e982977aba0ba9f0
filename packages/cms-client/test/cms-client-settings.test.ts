import { describe, expect, it } from 'vitest';
import { cmsClientEnv, parseConfig, z } from '@fleet/config';
import { cmsClientOptions } from '../src/index.ts';

describe('cmsClientOptions, from the CMS_* settings of cmsClientEnv', () => {
  const cmsSchema = z.object(cmsClientEnv);

  it('default to the local simulator with its built-in key pair, and pass no security token when none is set', () => {
    expect(cmsClientOptions(parseConfig(cmsSchema, {}))).toEqual({
      endpoint: 'http://127.0.0.1:8787/',
      credentials: { accessKeyId: 'LTAIsimulatorkey0001', accessKeySecret: 'simulator-secret-not-for-production' },
      timeoutMs: 10_000,
      method: 'POST',
      signatureVersion: 'v1',
    });
  });

  it('carry every CMS_* setting into the client options, the STS token included when set', () => {
    const settings = parseConfig(cmsSchema, {
      CMS_ENDPOINT: 'https://metrics.cn-hangzhou.aliyuncs.com/',
      CMS_ACCESS_KEY_ID: 'LTAIkey',
      CMS_ACCESS_KEY_SECRET: 'secret-value',
      CMS_SECURITY_TOKEN: 'sts-token',
      CMS_TIMEOUT_MS: '2500',
      CMS_METHOD: 'GET',
      CMS_SIGNATURE_VERSION: 'v3',
    });
    expect(cmsClientOptions(settings)).toEqual({
      endpoint: 'https://metrics.cn-hangzhou.aliyuncs.com/',
      credentials: { accessKeyId: 'LTAIkey', accessKeySecret: 'secret-value', securityToken: 'sts-token' },
      timeoutMs: 2500,
      method: 'GET',
      signatureVersion: 'v3',
    });
  });
});
