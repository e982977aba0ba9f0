import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { z } from '@fleet/config';
import { recordEventsWithClient } from '@fleet/db';

/**
 * `create-api-key`: makes an API key straight in the database (the way to get the first key without
 * FLEET_ADMIN_API_KEY) and prints it once. The key alone goes to stdout, so `KEY=$(npm run -s create-api-key ...)`
 * works; what it is goes to stderr.
 *
 * Same format as `@fleet/db` (api-keys.ts), which the API checks keys with: `flt_` + 32 random bytes base64url,
 * stored as SHA-256 hex, the first 12 characters kept as `key_prefix`. An API test runs this command and calls the
 * API with its output, so the two cannot drift apart unnoticed.
 */
export const CREATE_API_KEY_USAGE = `usage: fleet create-api-key --name <name> --role viewer|operator|admin (--user-id <16-digit UserId> ... | --all-accounts)`;

const argsSchema = z
  .strictObject({
    name: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9 ._:@()-]{0,99}$/,
        'must be 1 to 100 characters: letters, digits, space and . _ : @ ( ) -',
      ),
    role: z.enum(['viewer', 'operator', 'admin']),
    'user-id': z.array(z.string().regex(/^\d{16}$/, 'must be a 16-digit account UserId')).default([]),
    'all-accounts': z.boolean().default(false),
  })
  .refine((a) => a['all-accounts'] !== a['user-id'].length > 0, {
    message: 'give --user-id (one or more) or --all-accounts, not both',
    path: ['user-id'],
  });

export type CreatedApiKey = {
  id: string;
  key: string;
  keyPrefix: string;
  role: string;
  userIds: string[];
  allAccounts: boolean;
};

export async function createApiKeyCommand(databaseUrl: string, argv: string[]): Promise<CreatedApiKey> {
  const { values } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      role: { type: 'string' },
      'user-id': { type: 'string', multiple: true },
      'all-accounts': { type: 'boolean' },
    },
    strict: true,
    allowPositionals: false,
  });
  const parsed = argsSchema.safeParse(values);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--${issue.path.join('.') || 'arguments'}: ${issue.message}\n${CREATE_API_KEY_USAGE}`);
  }
  const args = parsed.data;
  const key = `flt_${randomBytes(32).toString('base64url')}`;
  const created: CreatedApiKey = {
    id: randomUUID(),
    key,
    keyPrefix: key.slice(0, 12),
    role: args.role,
    userIds: [...new Set(args['user-id'])],
    allAccounts: args['all-accounts'],
  };
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    // The key and its api_key.created event, in one transaction (the event log's rule: both or neither).
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO api_key (id, name, key_prefix, key_hash, role, user_ids, all_accounts) VALUES ($1, $2, $3, $4, $5::"ApiRole", $6::text[], $7)`,
      [
        created.id,
        args.name,
        created.keyPrefix,
        createHash('sha256').update(key, 'utf8').digest('hex'),
        created.role,
        created.userIds,
        created.allAccounts,
      ],
    );
    await recordEventsWithClient(client, { actor: { kind: 'system', id: 'fleet-cli' } }, [
      {
        type: 'api_key.created',
        rolloutId: null,
        userId: null,
        data: {
          keyId: created.id,
          name: args.name,
          role: created.role,
          userIds: created.userIds,
          allAccounts: created.allAccounts,
        },
      },
    ]);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
  return created;
}
