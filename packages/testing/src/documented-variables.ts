import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from '@fleet/config';
import { repoRoot } from './test-database.ts';

/**
 * The environment variables an app's config schema parses: the keys of its zod object, looked for through the
 * wrappers a schema may carry (`.transform()`, `z.preprocess`, `.pipe()` wrap the object in a pipe whose input it is).
 */
export function configVariableNames(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape).sort();
  if (schema instanceof z.ZodPipe) return configVariableNames(schema.in as z.ZodType);
  throw new Error(`not a config schema (a zod object, or a pipe from one): ${schema.constructor.name}`);
}

/** Variable name -> the apps named in its row, from every table row of the page whose first cell names it. */
function documentedVariables(markdown: string): Map<string, Set<string>> {
  const documented = new Map<string, Set<string>>();
  for (const line of markdown.split('\n')) {
    if (!line.startsWith('|')) continue;
    const [firstCell = '', appsCell = ''] = line.split('|').slice(1);
    const apps = new Set(appsCell.split(/[^a-z]+/).filter(Boolean));
    for (const [, name] of firstCell.matchAll(/`([A-Z][A-Z0-9_]*)`/g)) {
      const known = documented.get(name!) ?? new Set<string>();
      for (const app of apps) known.add(app);
      documented.set(name!, known);
    }
  }
  return documented;
}

/**
 * The variables `schema` parses that the configuration table of `docsPath` (relative to the repository root) does
 * not document for `app`: a variable is documented when a table row's first cell names it in backticks and the
 * row's second cell (the apps) names `app`. Empty when the page is complete for that app.
 */
export function undocumentedVariables(schema: z.ZodType, docsPath: string, app: string): string[] {
  const documented = documentedVariables(readFileSync(path.resolve(repoRoot(), docsPath), 'utf8'));
  return configVariableNames(schema).filter((name) => !documented.get(name)?.has(app));
}
