import { describe, expect, it } from 'vitest';
import {
  apiRateLimitKey,
  installJobKey,
  installQueueName,
  reconcilerLeaderKey,
  rolloutWorkChannel,
} from '../src/index.ts';

describe('redis key names', () => {
  // Processes of two versions share one Redis during a rolling upgrade: a key that changed its name would let two
  // reconcilers lead at once, or reset every API key's count, so these are pinned.
  it('keeps the names older processes of a deployment use, under the deployment prefix', () => {
    expect(reconcilerLeaderKey('fleet')).toBe('fleet:reconciler:leader');
    expect(apiRateLimitKey('fleet', 'k1', 29_000_000)).toBe('fleet:ratelimit:k1:29000000');
    expect(rolloutWorkChannel('fleet')).toBe('fleet:events:rollout-work');
  });

  // Renamed once, for Redis Cluster (docs/operations.md, Upgrading): the reconciler rebuilds the queues from Postgres.
  it("names a rollout's queue with the rollout id as hash tag, so its keys share a slot and rollouts spread", () => {
    const rolloutId = '11111111-1111-4111-8111-111111111111';
    expect(installQueueName(rolloutId)).toBe(`install.{${rolloutId}}`);
    expect(installJobKey('fleet', rolloutId, 'i-abc')).toBe(`fleet:install.{${rolloutId}}:i-abc`);
    // What Redis Cluster hashes: the first {...} of the key.
    expect(installJobKey('fleet', rolloutId, 'i-abc').match(/\{([^}]*)\}/)?.[1]).toBe(rolloutId);
  });
});
