import type { Database } from './client.ts';
import { IdempotencyKeyTakenError } from './errors.ts';
import type { Prisma } from './generated/prisma/client.ts';

/**
 * Idempotency-Key records: one per (API key, Idempotency-Key). The record is written in the same transaction as
 * what the request creates, so either both exist or neither; the primary key makes a concurrent duplicate wait for
 * the first transaction and then find the key taken, so two requests can never both create.
 */

export type IdempotencyRecord = {
  apiKeyId: string;
  key: string;
  /** SHA-256 of method, path and canonical body of the first request. */
  requestHash: string;
  /** What the first request created (a rollout id). */
  resourceId: string | null;
  /** The HTTP status the first request answered. */
  status: number | null;
  createdAt: Date;
};

export async function findIdempotencyRecord(
  db: Database,
  apiKeyId: string,
  key: string,
): Promise<IdempotencyRecord | null> {
  return db.prisma.idempotencyRecord.findUnique({ where: { apiKeyId_key: { apiKeyId, key } } });
}

/**
 * Records the key inside the caller's transaction. A concurrent request holding the same key blocks this insert
 * until it commits or rolls back (unique index); if it committed, this throws IdempotencyKeyTakenError and the
 * caller's transaction rolls back whole.
 */
export async function claimIdempotencyKey(
  tx: Prisma.TransactionClient,
  record: { apiKeyId: string; key: string; requestHash: string; resourceId: string; status: number },
): Promise<void> {
  const inserted = await tx.$queryRaw<{ key: string }[]>`
    INSERT INTO idempotency_record (api_key_id, key, request_hash, resource_id, status)
    VALUES (${record.apiKeyId}::uuid, ${record.key}, ${record.requestHash}, ${record.resourceId}, ${record.status})
    ON CONFLICT (api_key_id, key) DO NOTHING
    RETURNING key`;
  if (inserted.length === 0) throw new IdempotencyKeyTakenError(record.apiKeyId, record.key);
}

/** Forgets records made before `before` (a key may then be used again). Returns how many went. */
export async function deleteIdempotencyRecordsBefore(db: Database, before: Date): Promise<number> {
  const { count } = await db.prisma.idempotencyRecord.deleteMany({ where: { createdAt: { lt: before } } });
  return count;
}
