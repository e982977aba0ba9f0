/**
 * Every column that holds a sealed secret (@fleet/secrets: AES-256-GCM, the key id in each value), listed once:
 * `npm run rotate-encryption-key` re-seals exactly these, and the secret-scan tests read them. A feature that stores
 * a secret adds its columns here, with the context its values are sealed under (the AES-GCM additional data binding a
 * value to its row and field, so a value copied into another row or field cannot be opened).
 */

export type SealedColumn = {
  table: string;
  /** The table's primary key column, and its SQL type (rows are walked in its order). */
  key: string;
  keyType: 'bigint' | 'uuid' | 'text';
  column: string;
  /** Columns of the row the context is made of. */
  contextColumns: readonly string[];
  /** The context a value of this row's column is sealed under, from the row's `contextColumns` (as text). */
  context(row: Readonly<Record<string, string>>): string;
};

/** Context of a webhook's Standard Webhooks signing secret (webhook.secret_sealed, and the previous one). */
export function webhookSecretContext(webhookId: string): string {
  return `webhook:${webhookId}:secret`;
}

/** Context of a DingTalk robot's signing secret (webhook.robot_secret_sealed). */
export function webhookRobotSecretContext(webhookId: string): string {
  return `webhook:${webhookId}:robotSecret`;
}

/** Context of a chat kind's URL (webhook.url_sealed): a Slack or DingTalk URL is the channel's credential. */
export function webhookUrlContext(webhookId: string): string {
  return `webhook:${webhookId}:url`;
}

/** Context of an account's AccessKey secret (account_credentials.access_key_secret). */
export function accountSecretContext(userId: string): string {
  return `account:${userId}:accessKeySecret`;
}

/** Context of an account's STS token (account_credentials.security_token). */
export function accountTokenContext(userId: string): string {
  return `account:${userId}:securityToken`;
}

export const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: 'account_credentials',
    key: 'id',
    keyType: 'bigint',
    column: 'access_key_secret',
    contextColumns: ['user_id'],
    context: (row) => accountSecretContext(row.user_id!),
  },
  {
    table: 'account_credentials',
    key: 'id',
    keyType: 'bigint',
    column: 'security_token',
    contextColumns: ['user_id'],
    context: (row) => accountTokenContext(row.user_id!),
  },
  {
    table: 'webhook',
    key: 'id',
    keyType: 'uuid',
    column: 'secret_sealed',
    contextColumns: ['id'],
    context: (row) => webhookSecretContext(row.id!),
  },
  // The secret before a rotation, still signing for 24 hours: sealed under the same context as the current one.
  {
    table: 'webhook',
    key: 'id',
    keyType: 'uuid',
    column: 'previous_secret_sealed',
    contextColumns: ['id'],
    context: (row) => webhookSecretContext(row.id!),
  },
  {
    table: 'webhook',
    key: 'id',
    keyType: 'uuid',
    column: 'robot_secret_sealed',
    contextColumns: ['id'],
    context: (row) => webhookRobotSecretContext(row.id!),
  },
  {
    table: 'webhook',
    key: 'id',
    keyType: 'uuid',
    column: 'url_sealed',
    contextColumns: ['id'],
    context: (row) => webhookUrlContext(row.id!),
  },
];
