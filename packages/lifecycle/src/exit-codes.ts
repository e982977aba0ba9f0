/**
 * Exit codes of the product's processes besides 0 (done) and 1 (failed, or stopped by a second signal), from BSD's
 * sysexits.h so that a supervisor can tell "fix the setup" from "try again".
 */
export const EXIT_CODES = Object.freeze({
  /** EX_UNAVAILABLE: a service it needs (Postgres, Redis) does not answer (`fleet up`). */
  unavailable: 69,
  /** EX_CONFIG: a variable of the environment is malformed; the one line on stderr names it. */
  config: 78,
});
