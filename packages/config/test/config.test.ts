import { describe, expect, it } from 'vitest';
import { ConfigError } from '@fleet/errors';
import { env, parseConfig, redactConfig, z } from '../src/index.ts';

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
