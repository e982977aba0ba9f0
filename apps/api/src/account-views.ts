import { z } from 'zod';
import type { AccountRecord } from '@fleet/db';

/** The API shape of an account: its settings and its AccessKeyId masked, never a secret or a token. */
export function accountView(account: AccountRecord) {
  return {
    userId: account.userId,
    name: account.name,
    endpoint: account.endpoint,
    rateLimitRps: account.rateLimitRps,
    rateBurst: account.rateBurst,
    accessKeyId: account.accessKeyId,
    hasSecurityToken: account.hasSecurityToken,
    credentialsUpdatedAt: account.credentialsUpdatedAt?.toISOString() ?? null,
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
  };
}

const isoDate = z.iso.datetime({ offset: true });

export const accountSchema = z.object({
  userId: z.string(),
  name: z.string(),
  endpoint: z.string().nullable().describe("its CloudMonitor endpoint; null: the workers' CMS_ENDPOINT"),
  rateLimitRps: z.number().int().nullable().describe('NodeInstall calls per second; null: ACCOUNT_RATE_LIMIT_RPS'),
  rateBurst: z.number().int().nullable().describe('calls at once after a quiet spell; null: ACCOUNT_RATE_BURST'),
  accessKeyId: z
    .string()
    .nullable()
    .describe("its AccessKeyId masked to the last 4 characters (`****abcd`); null: signed with the workers' pair"),
  hasSecurityToken: z.boolean().describe('whether its credentials are STS credentials (with a token)'),
  credentialsUpdatedAt: isoDate.nullable().describe('when its credentials were last set'),
  createdAt: isoDate,
  updatedAt: isoDate,
});

export const accountListSchema = z.object({
  items: z.array(accountSchema),
  nextAfter: z.string().nullable().describe('pass as `after` for the next page; null on the last'),
});
