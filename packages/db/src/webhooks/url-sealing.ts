import type { Database } from '../client.ts';
import { webhookUrlContext } from '../sealed-columns.ts';
import type { WebhookKindName } from './subscriptions.ts';

/**
 * Chat subscriptions made before their URLs were sealed (migration 20261202110000) hold the URL, their credential, in
 * clear in `url`. This seals each (url_sealed) and leaves `url` its masked form, a guarded write on both (a row
 * changed meanwhile is left to the writer, which sealed it itself). The API runs it at its start with
 * FLEET_ENCRYPTION_KEY; it finds nothing to do after the first time.
 */
export type SecretUrlSealing = {
  /** The kinds whose URL is a secret (@fleet/webhooks isSecretUrlKind). */
  kinds: readonly WebhookKindName[];
  /** Seals a value under a context (a SecretBox's seal). */
  seal(plaintext: string, context: string): string;
  /** The URL as it may be shown (@fleet/webhooks maskSecretUrl). */
  mask(url: string): string;
};

/** Seals every clear chat URL; how many it sealed. */
export async function sealClearSecretUrls(db: Database, sealing: SecretUrlSealing): Promise<number> {
  if (sealing.kinds.length === 0) return 0;
  const { rows } = await db.pool.query<{ id: string; url: string }>(
    `SELECT id::text AS id, url FROM webhook WHERE url_sealed IS NULL AND kind::text = ANY($1::text[]) ORDER BY id`,
    [[...sealing.kinds]],
  );
  let sealed = 0;
  for (const row of rows) {
    const { rowCount } = await db.pool.query(
      `UPDATE webhook SET url_sealed = $2, url = $3 WHERE id = $1::uuid AND url = $4 AND url_sealed IS NULL`,
      [row.id, sealing.seal(row.url, webhookUrlContext(row.id)), sealing.mask(row.url), row.url],
    );
    sealed += rowCount ?? 0;
  }
  return sealed;
}
