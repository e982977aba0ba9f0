import { z } from 'zod';
import { userIdSchema } from './rollout-schemas.ts';

/** A label for people: printable ASCII, no control or direction-changing characters that could disguise it. */
const accountNameSchema = z
  .string()
  .regex(
    /^[A-Za-z0-9][A-Za-z0-9 ._:@()-]{0,99}$/,
    'must be 1 to 100 characters: letters, digits, space and . _ : @ ( ) -, starting with a letter or digit',
  );

/**
 * An AccessKey as Alibaba issues them: the id printable ASCII without spaces (`LTAI...`, `STS....`), the secret and
 * the STS token printable ASCII. Their values are never shown back in an error (CREDENTIAL_SECRET_FIELDS).
 */
export const credentialsSchema = z.strictObject({
  accessKeyId: z.string().regex(/^[\x21-\x7e]{4,128}$/, 'must be 4 to 128 printable characters without spaces'),
  accessKeySecret: z.string().regex(/^[\x21-\x7e]{8,256}$/, 'must be 8 to 256 printable characters without spaces'),
  /** STS token, for temporary credentials. */
  securityToken: z
    .string()
    .regex(/^[\x21-\x7e]{1,4096}$/, 'must be 1 to 4096 printable characters without spaces')
    .optional(),
});

/** Fields whose refused value an error must not repeat (they are secrets). */
export const CREDENTIAL_SECRET_FIELDS = [
  'credentials',
  'credentials.accessKeySecret',
  'credentials.securityToken',
  'accessKeySecret',
  'securityToken',
] as const;

/** An endpoint's shape; whether it is allowed (CMS_ENDPOINT_ALLOWLIST) is checked after, answering 422. */
const endpointSchema = z.string().max(2048, 'must be at most 2048 characters').url('must be an absolute URL');
/** NodeInstall calls per second of the account across every worker. */
const rateLimitRpsSchema = z.number().int().min(1).max(10_000);
/** Calls it may make at once after a quiet spell. */
const rateBurstSchema = z.number().int().min(1).max(10_000);

export const createAccountSchema = z.strictObject({
  userId: userIdSchema,
  name: accountNameSchema,
  /** Its own AccessKey; absent: its calls are signed with the workers' pair (CMS_ACCESS_KEY_ID). */
  credentials: credentialsSchema.optional(),
  /** Absent: the workers' CMS_ENDPOINT. */
  endpoint: endpointSchema.optional(),
  /** Absent: ACCOUNT_RATE_LIMIT_RPS. */
  rateLimitRps: rateLimitRpsSchema.optional(),
  /** Absent: ACCOUNT_RATE_BURST. */
  rateBurst: rateBurstSchema.optional(),
});

/** A field set to null goes back to its default (the workers' endpoint, rate or burst). */
export const updateAccountSchema = z
  .strictObject({
    name: accountNameSchema.optional(),
    endpoint: endpointSchema.nullable().optional(),
    rateLimitRps: rateLimitRpsSchema.nullable().optional(),
    rateBurst: rateBurstSchema.nullable().optional(),
  })
  .refine((patch) => Object.values(patch).some((v) => v !== undefined), {
    message: 'must set at least one of name, endpoint, rateLimitRps, rateBurst',
  });

export const accountUserIdParamsSchema = z.strictObject({ userId: userIdSchema });

export const listAccountsQuerySchema = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  /** The last UserId of the previous page. */
  after: userIdSchema.optional(),
});
