import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fleet/errors';
import { cmsClientEnv, cmsClientOptions, env, parseConfig, redactConfig, z } from '../src/index.ts';

const schema = z.object({ PORT: env.port(3000), FLAG: env.bool(false), API_KEY: z.string().optional() });

describe('parseConfig', () => {
  it('applies defaults and coerces, returning a frozen object', () => {
    const c = parseConfig(schema, { FLAG: 'yes' });
    expect(c).toEqual({ PORT: 3000, FLAG: true });
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('throws a ConfigError naming the variable', () => {
    try {
      parseConfig(schema, { PORT: 'x' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).variable).toBe('PORT');
      expect((error as Error).message).toMatch(/^PORT:/);
    }
  });

  it('redacts secret-named keys and URL passwords', () => {
    expect(redactConfig({ API_KEY: 'k', DATABASE_URL: 'postgresql://u:p4ss@h/db', PORT: 1 })).toEqual({
      API_KEY: '[redacted]',
      DATABASE_URL: 'postgresql://u:[redacted]@h/db',
      PORT: 1,
    });
  });
});

describe('cmsClientEnv and cmsClientOptions', () => {
  const cmsSchema = z.object(cmsClientEnv);

  it('default to the local simulator with its built-in key pair, and pass no security token when none is set', () => {
    expect(cmsClientOptions(parseConfig(cmsSchema, {}))).toEqual({
      endpoint: 'http://127.0.0.1:8787/',
      credentials: { accessKeyId: 'LTAIsimulatorkey0001', accessKeySecret: 'simulator-secret-not-for-production' },
      timeoutMs: 10_000,
      method: 'POST',
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
    });
    expect(cmsClientOptions(settings)).toEqual({
      endpoint: 'https://metrics.cn-hangzhou.aliyuncs.com/',
      credentials: { accessKeyId: 'LTAIkey', accessKeySecret: 'secret-value', securityToken: 'sts-token' },
      timeoutMs: 2500,
      method: 'GET',
    });
  });
});
