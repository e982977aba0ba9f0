/**
 * Instance rows read back per page when a new rollout's first wave is enqueued. The API holds about one page (and
 * the few addBulk chunks on their way) at a time, whatever the rollout's size.
 */
export const ENQUEUE_PAGE = 5_000;
/**
 * The first page is small: its jobs reach Redis, and the workers, before the next pages are read (reading 5,000 rows
 * first took 20 to 50 ms on the 2-core reference machine, 250 about 5 ms).
 */
export const FIRST_ENQUEUE_PAGE = 250;
