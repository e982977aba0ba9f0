import { FleetError } from '@fleet/errors';

/**
 * The errors the db package throws itself, each with a machine-readable `code` that callers branch on (or its
 * class), never on its message. Errors of the driver (Postgres, pg, Prisma) pass through as they are: whether one
 * means that Postgres cannot be reached right now is isDatabaseUnavailableError's to say (client.ts).
 */
export type DatabaseErrorCode = 'idempotency_key_taken' | 'guarded_write_lost_race' | 'wave_sizes_mismatch';

export abstract class DatabaseError extends FleetError {
  declare readonly code: DatabaseErrorCode;
  constructor(code: DatabaseErrorCode, message: string) {
    super(code, message);
  }
}

/** The Idempotency-Key was recorded by another request first (its transaction has committed). */
export class IdempotencyKeyTakenError extends DatabaseError {
  override name = 'IdempotencyKeyTakenError';
  constructor(
    readonly apiKeyId: string,
    readonly key: string,
  ) {
    super('idempotency_key_taken', 'the Idempotency-Key was used by a concurrent request');
  }
}

/**
 * A guarded write (`WHERE id = ... AND state = from`) found its row moved by another writer every time it tried:
 * contention that outlasted the writer's rounds, or (where the row was locked first) a broken invariant. Nothing
 * was written.
 */
export class GuardedWriteRaceError extends DatabaseError {
  override name = 'GuardedWriteRaceError';
  constructor(
    /** The table whose row kept moving. */
    readonly table: 'rollout' | 'rollout_instance' | 'install_attempt' | 'manual_install_flag',
    /** Its primary key, as text. */
    readonly id: string,
    message: string,
  ) {
    super('guarded_write_lost_race', message);
  }
}

/** A new rollout's wave sizes do not add up to its instances: the caller planned them wrong (nothing was written). */
export class WaveSizesMismatchError extends DatabaseError {
  override name = 'WaveSizesMismatchError';
  constructor(
    readonly instanceCount: number,
    readonly waveSizesTotal: number,
  ) {
    super(
      'wave_sizes_mismatch',
      `wave sizes do not add up to the instance count (${waveSizesTotal} in waves, ${instanceCount} instances)`,
    );
  }
}
