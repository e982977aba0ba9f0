import type { Database } from './client.ts';
import type { SealedColumn } from './sealed-columns.ts';
import { SEALED_COLUMNS } from './sealed-columns.ts';

/**
 * Re-sealing every sealed value under the current encryption key (`npm run rotate-encryption-key`), with no
 * downtime: every process is first given the new key as FLEET_ENCRYPTION_KEY and the old one in
 * FLEET_ENCRYPTION_PREVIOUS_KEYS (both open, only the new one seals), then this runs, then the old key can go.
 *
 * Rows are walked in primary-key order in batches, each value not under the current key opened and sealed again,
 * and written back with a guard on the old value: a row a concurrent rotation or credentials change wrote meanwhile
 * is left as that writer left it (counted `raced`), never overwritten with what this pass read before.
 */

/** What re-sealing needs of a SecretBox (@fleet/secrets): structural, so this package does not depend on that one. */
export type Resealer = {
  isCurrent(sealed: string): boolean;
  open(sealed: string, context: string): string;
  seal(plaintext: string, context: string): string;
};

export type ResealColumnResult = {
  table: string;
  column: string;
  /** Values seen (not null). */
  seen: number;
  /** Values sealed again under the current key. */
  resealed: number;
  /** Values another writer changed between this pass's read and its write: left as they are. */
  raced: number;
};

export type ResealOptions = {
  /** Rows read per query. Default 100. */
  batchSize?: number;
  /** Default SEALED_COLUMNS. */
  columns?: readonly SealedColumn[];
};

const IDENTIFIER = /^[a-z_][a-z0-9_]*$/;

function identifier(name: string): string {
  // The names come from the list above, never from input; checked anyway, as they are spliced into SQL.
  if (!IDENTIFIER.test(name)) throw new Error(`not a plain SQL identifier: ${name}`);
  return `"${name}"`;
}

async function resealColumn(
  db: Database,
  box: Resealer,
  spec: SealedColumn,
  batchSize: number,
): Promise<ResealColumnResult> {
  const table = identifier(spec.table);
  const key = identifier(spec.key);
  const column = identifier(spec.column);
  const contextColumns = spec.contextColumns.map((c) => `${identifier(c)}::text AS ${identifier(c)}`).join(', ');
  const result: ResealColumnResult = { table: spec.table, column: spec.column, seen: 0, resealed: 0, raced: 0 };
  let after: string | null = null;
  for (;;) {
    const { rows }: { rows: Record<string, string>[] } = await db.pool.query(
      `SELECT ${key}::text AS "$key", ${column} AS "$value"${contextColumns ? `, ${contextColumns}` : ''}
       FROM ${table}
       WHERE ${column} IS NOT NULL${after === null ? '' : ` AND ${key} > $2::${spec.keyType}`}
       ORDER BY ${key} LIMIT $1`,
      after === null ? [batchSize] : [batchSize, after],
    );
    for (const row of rows) {
      result.seen++;
      const old = row.$value!;
      if (box.isCurrent(old)) continue;
      const context = spec.context(row);
      const resealed = box.seal(box.open(old, context), context);
      const { rowCount } = await db.pool.query(
        `UPDATE ${table} SET ${column} = $1 WHERE ${key} = $2::${spec.keyType} AND ${column} = $3`,
        [resealed, row.$key, old],
      );
      if (rowCount === 1) result.resealed++;
      else result.raced++;
    }
    if (rows.length < batchSize) return result;
    after = rows[rows.length - 1]!.$key!;
  }
}

/**
 * Re-seals every value of the sealed columns that is not under the current key. Throws (SecretUnreadableError from
 * the box) on a value no configured key opens, after the rows before it were done: run it again once the missing
 * key is in FLEET_ENCRYPTION_PREVIOUS_KEYS.
 */
export async function resealColumns(
  db: Database,
  box: Resealer,
  options: ResealOptions = {},
): Promise<ResealColumnResult[]> {
  const results: ResealColumnResult[] = [];
  for (const spec of options.columns ?? SEALED_COLUMNS)
    results.push(await resealColumn(db, box, spec, options.batchSize ?? 100));
  return results;
}
