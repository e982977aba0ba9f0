import { FleetError } from '@fleet/errors';

/**
 * The errors the db package throws itself, each with a machine-readable `code` that callers branch on (or its
 * class), never on its message. Errors of the driver (Postgres, pg, Prisma) pass through as they are: whether one
 * means that Postgres cannot be reached right now is isDatabaseUnavailableError's to say (client.ts).
 */
export type DatabaseErrorCode =
  | 'idempotency_key_taken'
  | 'guarded_write_lost_race'
  | 'wave_sizes_mismatch'
  | 'account_exists'
  | 'account_has_open_rollouts';

export abstract class DatabaseError extends FleetError {
  declare readonly code: DatabaseErrorCode;
  constructor(code: DatabaseErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(code, message, options);
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

/** An account with this UserId exists already (nothing was written). */
export class AccountExistsError extends DatabaseError {
  override name = 'AccountExistsError';
  constructor(
    readonly userId: string,
    options: { cause?: unknown } = {},
  ) {
    super('account_exists', `account ${userId} exists already`, options);
  }
}

/** The account still has rollouts running or paused, whose calls are signed with its credentials (nothing was deleted). */
export class AccountHasOpenRolloutsError extends DatabaseError {
  override name = 'AccountHasOpenRolloutsError';
  constructor(
    readonly userId: string,
    readonly openRollouts: number,
  ) {
    super('account_has_open_rollouts', `account ${userId} has ${openRollouts} rollout(s) running or paused`);
  }
}
