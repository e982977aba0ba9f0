import { z } from 'zod';
import { API_ROLES } from '@fleet/db';
import { userIdSchema } from './rollout-schemas.ts';

/** A label for people: printable ASCII, no control or direction-changing characters that could disguise it. */
const apiKeyNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 ._:@()-]{0,99}$/,
    'must be 1 to 100 characters: letters, digits, space and . _ : @ ( ) -, starting with a letter or digit',
  );

/** The accounts of something scoped to accounts (an API key, a webhook): 1 to 100 UserIds. */
export const accountUserIdsSchema = z
  .array(userIdSchema)
  .min(1, 'must list at least one account UserId')
  .max(100, 'must list at most 100 account UserIds');

/** `userIds` or `allAccounts: true`, one of the two. */
export function refineAccountScope(body: { userIds?: unknown; allAccounts: boolean }, ctx: z.RefinementCtx): void {
  if (body.allAccounts && body.userIds !== undefined)
    ctx.addIssue({ code: 'custom', path: ['userIds'], message: 'must be absent when allAccounts is true' });
  if (!body.allAccounts && body.userIds === undefined)
    ctx.addIssue({ code: 'custom', path: ['userIds'], message: 'is required unless allAccounts is true' });
}

export const createApiKeySchema = z
  .strictObject({
    name: apiKeyNameSchema,
    /** viewer: read; operator: also create, pause, resume, cancel, retry; admin: also manage keys. */
    role: z.enum(API_ROLES),
    /** Accounts the key may act for (1 to 100, duplicates removed). Required unless allAccounts. */
    userIds: accountUserIdsSchema.optional(),
    /** Every account, now and later. Only a key that itself has every account may make one. */
    allAccounts: z.boolean().default(false),
  })
  .superRefine(refineAccountScope);

export const apiKeyIdSchema = z.string().uuid('must be an API key id (UUID)');

export const listApiKeysQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
});
