import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { repoRoot } from '@fleet/testing';
import type { ApiHarness } from './support.ts';
import { startApi } from './support.ts';

/**
 * docs/api.md has one section per route, headed `### \`METHOD /path\`` with OpenAPI's `{param}` syntax. The routes
 * come from the OpenAPI document the running API serves, which lists every registered route (undescribed ones
 * included), so a new route without a section, or a section of a route that is gone, fails here.
 */
const API_DOCS = path.join(repoRoot(), 'docs', 'api.md');

/** `GET /v1/rollouts/{id}` for every operation of the document. */
function documentOperations(document: { paths: Record<string, Record<string, unknown>> }): string[] {
  return Object.entries(document.paths)
    .flatMap(([route, methods]) => Object.keys(methods).map((method) => `${method.toUpperCase()} ${route}`))
    .sort();
}

/** The routes docs/api.md has a section for. */
function documentedOperations(markdown: string): string[] {
  return [...markdown.matchAll(/^#{2,4} `([A-Z]+ \/[^`]*)`\s*$/gm)].map((m) => m[1]!).sort();
}

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await api.close();
});

describe('docs/api.md', () => {
  it('has a section for every route of the OpenAPI document, and none for a route the API does not have', async () => {
    const res = await api.requestAs(null, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const routes = documentOperations(res.body);
    const documented = documentedOperations(readFileSync(API_DOCS, 'utf8'));
    expect(routes.length).toBeGreaterThan(20);
    expect(
      routes.filter((route) => !documented.includes(route)),
      'routes without a section',
    ).toEqual([]);
    expect(
      documented.filter((route) => !routes.includes(route)),
      'sections of no route',
    ).toEqual([]);
  });

  it("says an attempt's startedAt is when its request went, in the OpenAPI document and in docs/api.md", async () => {
    const res = await api.requestAs(null, 'GET', '/openapi.json');
    const text = JSON.stringify(res.body);
    expect(text).toContain('when the request went, by the worker clock, once its answer is recorded');
    expect(readFileSync(API_DOCS, 'utf8').replace(/\s+/g, ' ')).toContain(
      "`startedAt` (when the request went, by the worker's clock, once its answer is recorded",
    );
  });

  it('reads sections by their heading only', () => {
    expect(
      documentedOperations(
        '### `GET /v1/x/{id}`\ntext `POST /v1/y` in prose\n## `DELETE /v1/z`\n#### `PATCH /v1/x/{id}`',
      ),
    ).toEqual(['DELETE /v1/z', 'GET /v1/x/{id}', 'PATCH /v1/x/{id}']);
  });
});
