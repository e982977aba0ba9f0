import { afterAll, beforeAll } from 'vitest';
import { createTestDatabase } from '@fleet/testing';
import type { TestDatabase } from '@fleet/testing';
import { createDatabase } from '../src/index.ts';
import type { Database } from '../src/index.ts';

/**
 * A migrated database of the test file's own, set up by hooks this registers: made before the file's tests (its
 * client, with at most `poolMax` connections, is given to `onOpen`) and dropped after them.
 */
export function useTestDatabase(options: { poolMax: number }, onOpen: (db: Database) => void): void {
  let testDb: TestDatabase | undefined;
  let db: Database | undefined;
  beforeAll(async () => {
    testDb = await createTestDatabase();
    db = createDatabase({ url: testDb.url, poolMax: options.poolMax });
    onOpen(db);
  });
  afterAll(async () => {
    await db?.close();
    await testDb?.drop();
  });
}
