import type { Database } from '../client.ts';
import { INSTALL_PATH_STATEMENTS } from './statements.ts';

/**
 * Opens `connections` of the install path's connections and prepares its three batch statements on each, so that a
 * worker's first rollout does not wait for connections to open and statements to be parsed and planned while its
 * first jobs claim (tens of milliseconds each on the 2-core reference machine). Each statement runs once with empty
 * input: it touches no row. Best effort: a worker starts without it should Postgres not answer.
 */
export async function warmInstallPath(db: Database, connections = 2): Promise<void> {
  const pool = db.installPath;
  const clients = await Promise.all(Array.from({ length: connections }, () => pool.connect()));
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (const { name, text, params } of Object.values(INSTALL_PATH_STATEMENTS)) {
          await client.query({ name, text, values: Array.from({ length: params }, () => []) });
        }
      }),
    );
  } finally {
    for (const client of clients) client.release();
  }
}
