import { ensureMigratedTemplate } from './test-database.ts';

/** vitest globalSetup: migrate the template database once per run, before any test file clones it. */
export default async function setup(): Promise<void> {
  await ensureMigratedTemplate();
}
