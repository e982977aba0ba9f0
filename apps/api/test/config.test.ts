import { describe, expect, it } from 'vitest';
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
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it.each([
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'not a url'],
    ['MAX_INSTANCES_PER_ROLLOUT', '0'],
    ['QUEUE_PREFIX', 'has:colon'],
  ])('fails at once naming %s when it is %j', (name, value) => {
    expect(() => loadApiConfig({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });
});
