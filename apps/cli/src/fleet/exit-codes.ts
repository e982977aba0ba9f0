/**
 * The exit codes of the `fleet` client commands (docs/cli.md): documented and stable, like `aws ssm wait`'s, so a
 * script or a CI job can branch on them.
 */
export const FLEET_EXIT = {
  /** Done; a watched rollout completed with no failure. */
  ok: 0,
  /** A watched rollout completed, some instances failed. */
  completedWithFailures: 1,
  /** A watched rollout paused (a wave gate, a fleet-wide error or an operator), was aborted or was cancelled. */
  stopped: 2,
  /** Bad usage or input (flags, the instance file): nothing was sent. */
  usage: 3,
  /** The API refused the request or could not be reached, after retries. */
  api: 4,
  /** `--timeout` reached while watching (the rollout goes on). */
  timeout: 5,
} as const;

export type FleetExitCode = (typeof FLEET_EXIT)[keyof typeof FLEET_EXIT];

/** A usage or input error found before anything was sent: exit 3 with these lines on stderr. */
export class UsageError extends Error {
  override name = 'UsageError';
  readonly code = 'usage';
  constructor(
    message: string,
    readonly lines: string[] = [],
  ) {
    super(message);
  }
}
