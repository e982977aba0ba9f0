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
  sealClearSecretUrls,
  webhookRobotSecretContext,
  webhookSecretContext,
  webhookUrlContext,
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

  it("seals a webhook's signing and robot secrets and chat URL under the contexts the API and the notifier use", () => {
    const contexts = SEALED_COLUMNS.filter((s) => s.table === 'webhook').map((s) => [
      s.column,
      s.context({ id: 'w1' }),
    ]);
    expect(contexts).toEqual([
      ['secret_sealed', 'webhook:w1:secret'],
      ['previous_secret_sealed', 'webhook:w1:secret'],
      ['robot_secret_sealed', 'webhook:w1:robotSecret'],
      ['url_sealed', 'webhook:w1:url'],
    ]);
  });
});

describe('rotate-encryption-key over webhooks', () => {
  it("re-seals a webhook's signing, previous and robot secrets and chat URL under the new key, each still opening to its value", async () => {
    const [oldKey, newKey] = [key(), key()];
    const oldBox = createSecretBox({ current: oldKey });
    const rotatingBox = createSecretBox({ current: newKey, previous: [oldKey] });
    const id = randomUUID();
    const webhook = await createWebhook(db, {
      id,
      url: 'https://8.8.8.8/robot/send?access_token=…7890',
      urlSealed: oldBox.seal('https://8.8.8.8/robot/send?access_token=tok1234567890', webhookUrlContext(id)),
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
      ['url_sealed', 1],
    ]);
    const row = (await findWebhook(db, id))!;
    for (const sealed of [row.secretSealed, row.previousSecretSealed!, row.robotSecretSealed!, row.urlSealed!])
      expect(rotatingBox.isCurrent(sealed)).toBe(true);
    expect(rotatingBox.open(row.secretSealed, webhookSecretContext(id))).toBe('whsec_second');
    expect(rotatingBox.open(row.previousSecretSealed!, webhookSecretContext(id))).toBe('whsec_first');
    expect(rotatingBox.open(row.robotSecretSealed!, webhookRobotSecretContext(id))).toBe('SECrobot');
    expect(rotatingBox.open(row.urlSealed!, webhookUrlContext(id))).toBe(
      'https://8.8.8.8/robot/send?access_token=tok1234567890',
    );
  });
});

describe('sealClearSecretUrls (chat subscriptions made before URLs were sealed)', () => {
  it('seals each chat URL held in clear and leaves its masked form; a standard URL stays; a second run finds none', async () => {
    const box = createSecretBox({ current: key() });
    const made = async (kind: 'slack' | 'standard', url: string) => {
      const id = randomUUID();
      await createWebhook(db, {
        id,
        url,
        kind,
        events: ['*'],
        userIds: ['1234567898765432'],
        allAccounts: false,
        description: null,
        secretSealed: box.seal('whsec_x', webhookSecretContext(id)),
        robotSecretSealed: null,
        createdByKeyId: null,
      });
      return id;
    };
    const slackUrl = 'https://8.8.8.8/services/T0AB12CD3/B0EF45GH6/legacyToken0123456789';
    const slack = await made('slack', slackUrl);
    const standard = await made('standard', 'https://8.8.8.8/plain');
    const sealing = {
      kinds: ['slack', 'dingtalk'] as const,
      seal: (plaintext: string, context: string) => box.seal(plaintext, context),
      mask: () => 'https://8.8.8.8/services/T0…/…6789',
    };
    expect(await sealClearSecretUrls(db, sealing)).toBe(1);
    const sealed = (await findWebhook(db, slack))!;
    expect(sealed.url).toBe('https://8.8.8.8/services/T0…/…6789');
    expect(box.open(sealed.urlSealed!, webhookUrlContext(slack))).toBe(slackUrl);
    expect(await findWebhook(db, standard)).toMatchObject({ url: 'https://8.8.8.8/plain', urlSealed: null });
    expect(await sealClearSecretUrls(db, sealing)).toBe(0);
  });
});
