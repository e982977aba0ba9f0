import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSecretBox, parseEncryptionKey } from '@fleet/secrets';
import type { Database } from '../src/index.ts';
import {
  SEALED_COLUMNS,
  createWebhook,
  findWebhook,
  resealColumns,
  rotateWebhookSecret,
  webhookRobotSecretContext,
  webhookSecretContext,
} from '../src/index.ts';
import { useTestDatabase } from './support.ts';

const key = () => parseEncryptionKey(randomBytes(32).toString('base64'));

let db: Database;
useTestDatabase({ poolMax: 2 }, (opened) => (db = opened));

describe('SEALED_COLUMNS', () => {
  it('names text columns that exist, with their keys and the columns their contexts are made of', async () => {
    expect(SEALED_COLUMNS.length).toBeGreaterThan(0);
    for (const sealed of SEALED_COLUMNS) {
      const { rows } = await db.pool.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1`,
        [sealed.table],
      );
      const types = new Map(rows.map((r) => [r.column_name, r.data_type]));
      expect(types.get(sealed.column), `${sealed.table}.${sealed.column}`).toBe('text');
      expect(types.has(sealed.key), `${sealed.table}.${sealed.key}`).toBe(true);
      for (const column of sealed.contextColumns) expect(types.has(column), `${sealed.table}.${column}`).toBe(true);
    }
  });

  it("seals a webhook's signing and robot secrets under the contexts the API and the notifier use", () => {
    const contexts = SEALED_COLUMNS.filter((s) => s.table === 'webhook').map((s) => [
      s.column,
      s.context({ id: 'w1' }),
    ]);
    expect(contexts).toEqual([
      ['secret_sealed', 'webhook:w1:secret'],
      ['previous_secret_sealed', 'webhook:w1:secret'],
      ['robot_secret_sealed', 'webhook:w1:robotSecret'],
    ]);
  });
});

describe('rotate-encryption-key over webhooks', () => {
  it("re-seals a webhook's signing, previous and robot secrets under the new key, each still opening to its value", async () => {
    const [oldKey, newKey] = [key(), key()];
    const oldBox = createSecretBox({ current: oldKey });
    const rotatingBox = createSecretBox({ current: newKey, previous: [oldKey] });
    const id = randomUUID();
    const webhook = await createWebhook(db, {
      id,
      url: 'https://8.8.8.8/hook',
      kind: 'dingtalk',
      events: ['*'],
      userIds: ['1234567898765432'],
      allAccounts: false,
      description: null,
      secretSealed: oldBox.seal('whsec_first', webhookSecretContext(id)),
      robotSecretSealed: oldBox.seal('SECrobot', webhookRobotSecretContext(id)),
      createdByKeyId: null,
    });
    await rotateWebhookSecret(db, webhook, {
      secretSealed: oldBox.seal('whsec_second', webhookSecretContext(id)),
      previousSecretUntil: new Date(Date.now() + 86_400_000),
    });
    const results = await resealColumns(db, rotatingBox, {
      columns: SEALED_COLUMNS.filter((s) => s.table === 'webhook'),
    });
    expect(results.map((r) => [r.column, r.resealed])).toEqual([
      ['secret_sealed', 1],
      ['previous_secret_sealed', 1],
      ['robot_secret_sealed', 1],
    ]);
    const row = (await findWebhook(db, id))!;
    for (const sealed of [row.secretSealed, row.previousSecretSealed!, row.robotSecretSealed!])
      expect(rotatingBox.isCurrent(sealed)).toBe(true);
    expect(rotatingBox.open(row.secretSealed, webhookSecretContext(id))).toBe('whsec_second');
    expect(rotatingBox.open(row.previousSecretSealed!, webhookSecretContext(id))).toBe('whsec_first');
    expect(rotatingBox.open(row.robotSecretSealed!, webhookRobotSecretContext(id))).toBe('SECrobot');
  });
});
