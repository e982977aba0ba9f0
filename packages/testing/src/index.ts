export { createTestDatabase, ensureMigratedTemplate, adminDatabaseUrl, repoRoot } from './test-database.ts';
export type { TestDatabase } from './test-database.ts';
export { testRedisUrl, uniquePrefix, deleteKeysWithPrefix } from './test-redis.ts';
export { waitFor } from './wait-for.ts';
export { parseCsv, csvRecords } from './csv.ts';
