import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import type { Database, WebhookKindName, WebhookRecord } from '@fleet/db';
import {
  createDatabase,
  createEventListener,
  createWebhook,
  DIRECT_WRITER,
  FLEET_EVENTS_CHANNEL,
  recordEvents,
  webhookSecretContext,
  webhookRobotSecretContext,
  webhookUrlContext,
} from '@fleet/db';
import type { NewFleetEvent } from '@fleet/rollout-domain';
import type { SecretBox } from '@fleet/secrets';
import { secretBoxFromConfig } from '@fleet/secrets';
import type { TestDatabase } from '@fleet/testing';
import { capturingLogger, createTestDatabase, deleteKeysWithPrefix, testRedisUrl, uniquePrefix } from '@fleet/testing';
import { generateSigningSecret, isSecretUrlKind, maskSecretUrl } from '@fleet/webhooks';
import type { Notifier, NotifierDeps } from '../src/notifier.ts';
import { createNotifier } from '../src/notifier.ts';

const USER_ID = '1234567898765432';

function testSecretBox(): SecretBox {
  return secretBoxFromConfig({ FLEET_ENCRYPTION_KEY: Buffer.alloc(32, 9) })!;
}

/** What a receiver got: the request as sent, and whether the standardwebhooks package verified it. */
type Received = {
  path: string;
  url: URL;
  headers: Record<string, string>;
  body: string;
  verified: boolean;
};

/** How the receiver answers the nth request (1-based) to a path: a status, and headers (perhaps after a wait). */
type AnswerShape = { status: number; headers?: Record<string, string> };
export type Answer = (n: number, req: IncomingMessage) => AnswerShape | Promise<AnswerShape>;

/**
 * A real HTTP receiver on 127.0.0.1 (port 0). Every request is verified with the standardwebhooks package against the
 * secrets registered for its path (`secrets[path]`, any of them may verify).
 */
export async function startReceiver() {
  const received: Received[] = [];
  const answers = new Map<string, Answer>();
  const secrets = new Map<string, string[]>();
  const counts = new Map<string, number>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const url = new URL(req.url ?? '/', 'http://receiver');
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const verified = (secrets.get(url.pathname) ?? []).some((secret) => {
        try {
          new Webhook(secret).verify(body, headers);
          return true;
        } catch {
          return false;
        }
      });
      received.push({ path: url.pathname, url, headers, body, verified });
      const n = (counts.get(url.pathname) ?? 0) + 1;
      counts.set(url.pathname, n);
      const answer = (await answers.get(url.pathname)?.(n, req)) ?? { status: 200 };
      res.writeHead(answer.status, answer.headers ?? { 'content-type': 'text/plain' }).end(`answer ${n}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    received,
    at: (path: string) => received.filter((r) => r.path === path),
    answer: (path: string, answer: Answer) => answers.set(path, answer),
    verifyWith: (path: string, ...keys: string[]) => secrets.set(path, keys),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

export type NotifierHarness = {
  db: Database;
  box: SecretBox;
  notifier: Notifier;
  prefix: string;
  lines: string[];
  /** Makes a subscription straight in the database (sealed as the API seals); returns it with its secret in clear. */
  subscribe(input: {
    url: string;
    events?: string[];
    kind?: WebhookKindName;
    robotSecret?: string;
  }): Promise<{ webhook: WebhookRecord; secret: string }>;
  /** Writes events as the apps do (an outbox row, NOTIFY at commit). */
  record(events: NewFleetEvent[]): Promise<bigint[]>;
  close(): Promise<void>;
};

export async function startNotifier(
  options: { redisUrl?: string; overrides?: Partial<NotifierDeps>; database?: TestDatabase } = {},
): Promise<NotifierHarness> {
  const testDb = options.database ?? (await createTestDatabase());
  const db = createDatabase({ url: testDb.url, poolMax: 8 });
  const { logger, lines } = capturingLogger({ service: 'notifier-test' });
  const redis = new Redis(options.redisUrl ?? testRedisUrl(), { maxRetriesPerRequest: null });
  redis.on('error', () => undefined);
  const prefix = uniquePrefix('notifier');
  const box = testSecretBox();
  const notifier = createNotifier({
    db,
    redis,
    prefix,
    logger,
    secretBox: box,
    listen: (handlers) =>
      createEventListener({ url: testDb.url, channel: FLEET_EVENTS_CHANNEL, reconnectDelayMs: 50, ...handlers }),
    notifierId: 'notifier-test',
    allowPrivateNetworks: true,
    concurrency: 4,
    timeoutMs: 2000,
    retryDelaysMs: [200, 200, 200],
    disableAfterMs: 5 * 86_400_000,
    redriveIntervalMs: 200,
    publicBaseUrl: 'https://fleet.example.com',
    pollIntervalMs: 500,
    ...options.overrides,
  });
  await notifier.start();
  return {
    db,
    box,
    notifier,
    prefix,
    lines,
    async subscribe(input) {
      const id = randomUUID();
      const secret = generateSigningSecret();
      const kind = input.kind ?? 'standard';
      // A chat kind's URL sealed and masked, as the API stores it: the notifier must open it to send.
      const webhook = await createWebhook(db, {
        id,
        ...(isSecretUrlKind(kind)
          ? { url: maskSecretUrl(input.url), urlSealed: box.seal(input.url, webhookUrlContext(id)) }
          : { url: input.url }),
        kind,
        events: input.events ?? ['*'],
        userIds: [USER_ID],
        allAccounts: false,
        description: null,
        secretSealed: box.seal(secret, webhookSecretContext(id)),
        robotSecretSealed: input.robotSecret ? box.seal(input.robotSecret, webhookRobotSecretContext(id)) : null,
        createdByKeyId: null,
      });
      return { webhook, secret };
    },
    record: (events) => db.prisma.$transaction((tx) => recordEvents(tx, DIRECT_WRITER, events)),
    async close() {
      await notifier.stop();
      await deleteKeysWithPrefix(prefix, options.redisUrl).catch(() => undefined);
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
      if (!options.database) await testDb.drop();
    },
  };
}

/** A rollout event of USER_ID's (the rollout row itself is not needed by the notifier). */
export function rolloutEvent(
  rolloutId: string,
  type: 'rollout.completed' | 'rollout.paused' | 'rollout.wave_started' | 'rollout.aborted',
): NewFleetEvent {
  switch (type) {
    case 'rollout.completed':
      return { type, rolloutId, userId: USER_ID, data: { counts: { succeeded: 9, failed: 1 } } };
    case 'rollout.paused':
      return { type, rolloutId, userId: USER_ID, data: { cause: { kind: 'operator' }, reason: 'maintenance window' } };
    case 'rollout.wave_started':
      return { type, rolloutId, userId: USER_ID, data: { wave: 2, waveCount: 3 } };
    case 'rollout.aborted':
      return { type, rolloutId, userId: USER_ID, data: { reason: 'failure threshold 10 % passed' } };
  }
}
