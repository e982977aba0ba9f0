import { describe, expect, it } from 'vitest';
import { undocumentedVariables } from '@fleet/testing';
import { loadNotifierConfig, notifierConfigSchema } from '../src/config.ts';

describe('notifier config', () => {
  it("runs locally with nothing set: Svix's retry schedule, a 15 s timeout, public addresses only", () => {
    const config = loadNotifierConfig({});
    expect(config.WEBHOOK_RETRY_DELAYS_MS).toEqual([5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000]);
    expect(config.WEBHOOK_TIMEOUT_MS).toBe(15_000);
    expect(config.WEBHOOK_ALLOW_PRIVATE_NETWORKS).toBe(false);
    expect(config.WEBHOOK_DISABLE_AFTER_MS).toBe(5 * 86_400_000);
    expect(config.FLEET_ENCRYPTION_KEY).toBeUndefined();
  });

  it('reads a retry schedule and refuses one that is not whole milliseconds, naming the variable', () => {
    expect(loadNotifierConfig({ WEBHOOK_RETRY_DELAYS_MS: '100, 200' }).WEBHOOK_RETRY_DELAYS_MS).toEqual([100, 200]);
    expect(() => loadNotifierConfig({ WEBHOOK_RETRY_DELAYS_MS: '100,soon' })).toThrow(/WEBHOOK_RETRY_DELAYS_MS/);
    expect(() => loadNotifierConfig({ WEBHOOK_ALLOW_PRIVATE_NETWORKS: 'maybe' })).toThrow(
      /WEBHOOK_ALLOW_PRIVATE_NETWORKS/,
    );
  });

  it('every variable the notifier parses is in the configuration table of docs/operations.md, for the notifier', () => {
    expect(undocumentedVariables(notifierConfigSchema, 'docs/operations.md', 'notifier')).toEqual([]);
  });
});
