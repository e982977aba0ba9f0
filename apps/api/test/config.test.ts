import { describe, expect, it } from 'vitest';
import { redactConfig } from '@fleet/config';
import { loadApiConfig } from '../src/config.ts';

describe('api config', () => {
  it('runs locally with nothing set', () => {
    const config = loadApiConfig({});
    expect(config).toMatchObject({
      PORT: 3000,
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:5432/fleet',
      REDIS_URL: 'redis://127.0.0.1:6379',
      QUEUE_PREFIX: 'fleet',
      MAX_INSTANCES_PER_ROLLOUT: 100_000,
      API_RATE_LIMIT_PER_MINUTE: 600,
    });
    expect(config.FLEET_ADMIN_API_KEY).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'not a url'],
    ['MAX_INSTANCES_PER_ROLLOUT', '0'],
    ['QUEUE_PREFIX', 'has:colon'],
    ['FLEET_ADMIN_API_KEY', 'too-short'],
    ['FLEET_ADMIN_API_KEY', `${'a'.repeat(40)} with spaces`],
    ['API_RATE_LIMIT_PER_MINUTE', '-1'],
  ])('fails at once naming %s when it is %j', (name, value) => {
    expect(() => loadApiConfig({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });
});

describe('api config: the bootstrap admin key', () => {
  it('takes a key of 32+ token characters, treats an empty value as unset, and never shows it in the logged config or an error', () => {
    const key = `flt_${'Q'.repeat(43)}`;
    const config = loadApiConfig({ FLEET_ADMIN_API_KEY: key, API_RATE_LIMIT_PER_MINUTE: '0' });
    expect(config.FLEET_ADMIN_API_KEY).toBe(key);
    expect(config.API_RATE_LIMIT_PER_MINUTE).toBe(0);
    expect(JSON.stringify(redactConfig(config))).not.toContain(key);
    expect(loadApiConfig({ FLEET_ADMIN_API_KEY: '' }).FLEET_ADMIN_API_KEY).toBeUndefined();
    const bad = `${'s'.repeat(20)}!`;
    expect(() => loadApiConfig({ FLEET_ADMIN_API_KEY: bad })).toThrow(/^FLEET_ADMIN_API_KEY:/);
    try {
      loadApiConfig({ FLEET_ADMIN_API_KEY: bad });
    } catch (error) {
      expect(String(error)).not.toContain(bad);
    }
  });
});

describe('api config: the metrics token', () => {
  it('takes a token of 16+ characters, treats an empty value as unset, and never shows it in the logged config', () => {
    const token = 'metrics-token-Hq7Lw2Vx9';
    const config = loadApiConfig({ METRICS_TOKEN: token });
    expect(config.METRICS_TOKEN).toBe(token);
    expect(redactConfig(config).METRICS_TOKEN).toBe('[redacted]');
    expect(JSON.stringify(redactConfig(config))).not.toContain(token);
    expect(loadApiConfig({ METRICS_TOKEN: '' }).METRICS_TOKEN).toBeUndefined();
    expect(loadApiConfig({}).METRICS_TOKEN).toBeUndefined();
    expect(() => loadApiConfig({ METRICS_TOKEN: 'short' })).toThrow(/^METRICS_TOKEN:/);
  });
});
