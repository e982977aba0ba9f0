export { createTestDatabase, ensureMigratedTemplate, adminDatabaseUrl, repoRoot } from './test-database.ts';
export type { TestDatabase } from './test-database.ts';
export { testRedisUrl, uniquePrefix, deleteKeysWithPrefix } from './test-redis.ts';
export { waitFor } from './wait-for.ts';
export { parseCsv, csvRecords } from './csv.ts';
export { spawnApp, freePort } from './app-process.ts';
export type { AppName, AppProcess } from './app-process.ts';
export { collectLines } from './log-lines.ts';
export { configVariableNames, undocumentedVariables } from './documented-variables.ts';
