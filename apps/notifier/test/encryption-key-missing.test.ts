import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, createWebhook, webhookSecretContext } from '@fleet/db';
import type { Database } from '@fleet/db';
import { secretBoxFromConfig } from '@fleet/secrets';
import { createTestDatabase, spawnApp, testRedisUrl, uniquePrefix } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';

let testDb: TestDatabase;
let db: Database;
beforeAll(async () => {
  testDb = await createTestDatabase();
  db = createDatabase({ url: testDb.url, poolMax: 1 });
});
afterAll(async () => {
  await db.close();
  await testDb.drop();
});

describe('notifier main.ts without FLEET_ENCRYPTION_KEY', () => {
  it('refuses to start once a subscription with a sealed secret is stored: one line naming the variable, exit 78', async () => {
    const box = secretBoxFromConfig({ FLEET_ENCRYPTION_KEY: Buffer.alloc(32, 7) })!;
    const id = randomUUID();
    await createWebhook(db, {
      id,
      url: 'https://8.8.8.8/hook',
      kind: 'standard',
      events: ['*'],
      userIds: ['1234567898765432'],
      allAccounts: false,
      description: null,
      secretSealed: box.seal('whsec_not-openable-here', webhookSecretContext(id)),
      robotSecretSealed: null,
      createdByKeyId: null,
    });
    const notifier = spawnApp('notifier', {
      DATABASE_URL: testDb.url,
      REDIS_URL: testRedisUrl(),
      QUEUE_PREFIX: uniquePrefix('notifier-no-key'),
      FLEET_ENCRYPTION_KEY: '',
    });
    // Before the fix it started and failed every attempt for ever: bound the wait, and stop it either way.
    const code = await Promise.race([notifier.closed, sleep(30_000).then(() => 'still running' as const)]);
    await notifier.kill();
    expect(code).toBe(78);
    expect(notifier.stderr()).toBe(
      'notifier: configuration error: FLEET_ENCRYPTION_KEY is not set, and 1 webhook subscription has a sealed ' +
        'signing secret this notifier must open to send: set it to the key the API seals with\n',
    );
  });
});
