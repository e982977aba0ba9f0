/**
 * Issue 16's "both or neither" (event-breakage.ts) for the events of API keys, webhook subscriptions and accounts,
 * each change made through the db function its API route (or the notifier) calls. Rollouts and flags:
 * events-atomicity.test.ts.
 */
import { randomUUID } from 'node:crypto';
import type { EventSource } from '@fleet/rollout-domain';
import { describeBothOrNeither } from './event-breakage.ts';
import type { AtomicityCase } from './event-breakage.ts';
import { useTestDatabase } from './support.ts';
import {
  createAccount,
  createApiKey,
  createWebhook,
  deleteAccount,
  deleteWebhook,
  disableWebhook,
  findWebhook,
  revokeApiKey,
  rotateAccountCredentials,
  rotateWebhookSecret,
  updateAccount,
  updateWebhook,
} from '../src/index.ts';
import type { Database } from '../src/index.ts';

let db: Database;
useTestDatabase({ poolMax: 3 }, (opened) => (db = opened));

const USER = '1234567898765432';
const OPERATOR: EventSource = {
  actor: { kind: 'api_key', id: '00000000-0000-4000-8000-00000000000c', name: 'admin' },
  requestId: 'req-admin',
};
const ROTATED_UNTIL = new Date('2026-12-03T02:00:00.000Z');

const VIEWER_KEY = { role: 'viewer', userIds: [USER], allAccounts: false, createdById: null } as const;

const newWebhook = (id: string = randomUUID()) =>
  createWebhook(db, {
    id,
    url: 'https://hooks.example.test/fleet',
    kind: 'standard',
    events: ['rollout.paused'],
    userIds: [USER],
    allAccounts: false,
    description: null,
    secretSealed: 'sealed:one',
    robotSecretSealed: null,
    createdByKeyId: null,
    by: OPERATOR,
  });
const webhookState = async (id: string) => {
  const webhook = await findWebhook(db, id);
  return webhook && { url: webhook.url, enabled: webhook.enabled, secretSealed: webhook.secretSealed };
};
const WEBHOOK = { url: 'https://hooks.example.test/fleet', enabled: true, secretSealed: 'sealed:one' };

const SEALED = { accessKeyId: 'LTAI0000000000001111', accessKeySecret: 'sealed:secret', securityToken: null };
const newAccount = (userId: string) =>
  createAccount(db, {
    userId,
    name: 'acme',
    endpoint: null,
    rateLimitRps: null,
    rateBurst: null,
    credentials: SEALED,
    createdByKeyId: null,
    by: OPERATOR,
  });
const accountState = async (userId: string) => {
  const account = await db.prisma.account.findUnique({ where: { userId } });
  return account && { name: account.name, credentialsId: account.credentialsId !== null };
};
const credentialVersions = (userId: string) => db.prisma.accountCredentials.count({ where: { userId } });

const CASES: AtomicityCase[] = [
  {
    type: 'api_key.created',
    via: 'POST /v1/api-keys: createApiKey',
    arrange: async (tag) => {
      const key = { ...VIEWER_KEY, name: `ci-${tag}` };
      return {
        change: () => createApiKey(db, { ...key, by: OPERATOR }),
        state: () => db.prisma.apiKey.count({ where: { name: key.name } }),
      };
    },
    before: 0,
    after: 1,
  },
  {
    type: 'api_key.revoked',
    via: 'DELETE /v1/api-keys/:id: revokeApiKey',
    arrange: async () => {
      const { record } = await createApiKey(db, { ...VIEWER_KEY, name: 'old' });
      return {
        change: () => revokeApiKey(db, record.id, new Date(), OPERATOR),
        state: async () => (await db.prisma.apiKey.findUniqueOrThrow({ where: { id: record.id } })).revokedAt !== null,
      };
    },
    before: false,
    after: true,
  },
  {
    type: 'webhook.created',
    via: 'POST /v1/webhooks: createWebhook',
    arrange: async () => {
      const id = randomUUID();
      return { change: () => newWebhook(id), state: () => webhookState(id) };
    },
    before: null,
    after: WEBHOOK,
  },
  {
    type: 'webhook.updated',
    via: 'PATCH /v1/webhooks/:id: updateWebhook',
    arrange: async () => {
      const webhook = await newWebhook();
      const url = 'https://hooks.example.test/moved';
      return { change: () => updateWebhook(db, webhook, { url }, OPERATOR), state: () => webhookState(webhook.id) };
    },
    before: WEBHOOK,
    after: { ...WEBHOOK, url: 'https://hooks.example.test/moved' },
  },
  {
    type: 'webhook.secret_rotated',
    via: 'POST /v1/webhooks/:id/rotate-secret: rotateWebhookSecret',
    arrange: async () => {
      const webhook = await newWebhook();
      const rotation = { secretSealed: 'sealed:two', previousSecretUntil: ROTATED_UNTIL };
      return {
        change: () => rotateWebhookSecret(db, webhook, rotation, OPERATOR),
        state: () => webhookState(webhook.id),
      };
    },
    before: WEBHOOK,
    after: { ...WEBHOOK, secretSealed: 'sealed:two' },
  },
  {
    type: 'webhook.disabled',
    via: 'notifier, a subscription gone (410): disableWebhook',
    arrange: async () => {
      const webhook = await newWebhook();
      const notifier: EventSource = { actor: { kind: 'notifier', id: 'notifier-1' } };
      return { change: () => disableWebhook(db, webhook.id, 'gone', notifier), state: () => webhookState(webhook.id) };
    },
    before: WEBHOOK,
    after: { ...WEBHOOK, enabled: false },
  },
  {
    type: 'webhook.deleted',
    via: 'DELETE /v1/webhooks/:id: deleteWebhook',
    arrange: async () => {
      const webhook = await newWebhook();
      return { change: () => deleteWebhook(db, webhook, OPERATOR), state: () => webhookState(webhook.id) };
    },
    before: WEBHOOK,
    after: null,
  },
  {
    type: 'account.created',
    via: 'POST /v1/accounts: createAccount',
    arrange: async (tag) => {
      const userId = `acct-${tag}`;
      return {
        change: () => newAccount(userId),
        state: async () => ({ account: await accountState(userId), versions: await credentialVersions(userId) }),
      };
    },
    before: { account: null, versions: 0 },
    after: { account: { name: 'acme', credentialsId: true }, versions: 1 },
  },
  {
    type: 'account.updated',
    via: 'PATCH /v1/accounts/:userId: updateAccount',
    arrange: async (tag) => {
      const userId = `acct-${tag}`;
      await newAccount(userId);
      return {
        change: () => updateAccount(db, userId, { name: 'acme eu' }, OPERATOR),
        state: () => accountState(userId),
      };
    },
    before: { name: 'acme', credentialsId: true },
    after: { name: 'acme eu', credentialsId: true },
  },
  {
    type: 'account.credentials_rotated',
    via: 'PUT /v1/accounts/:userId/credentials: rotateAccountCredentials',
    arrange: async (tag) => {
      const userId = `acct-${tag}`;
      await newAccount(userId);
      return {
        change: () => rotateAccountCredentials(db, userId, SEALED, OPERATOR),
        state: () => credentialVersions(userId),
      };
    },
    before: 1,
    after: 2,
  },
  {
    type: 'account.deleted',
    via: 'DELETE /v1/accounts/:userId: deleteAccount',
    arrange: async (tag) => {
      const userId = `acct-${tag}`;
      await newAccount(userId);
      return {
        change: () => deleteAccount(db, userId, OPERATOR),
        state: () => accountState(userId),
      };
    },
    before: { name: 'acme', credentialsId: true },
    after: null,
  },
];

describeBothOrNeither(() => db, CASES);
