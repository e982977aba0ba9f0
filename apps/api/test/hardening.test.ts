import { request as httpRequest } from 'node:http';
import express from 'express';
import { GuardedWriteRaceError } from '@fleet/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { problemErrorHandler } from '../src/http/problem.ts';
import { listRoutes } from '../src/http/route-list.ts';
import { openApiPath } from '../src/openapi.ts';
import {
  apiKeyListSchema,
  createdApiKeySchema,
  createdRolloutSchema,
  instanceDetailSchema,
  instancePageSchema,
  problemSchema,
  readinessSchema,
  rolloutPageSchema,
  rolloutSchema,
} from '../src/response-schemas.ts';
import type { ApiHarness } from './support.ts';
import { startApi, USER_ID } from './support.ts';
import { capturingLogger, instanceIds } from '@fleet/testing';

let api: ApiHarness;
beforeAll(async () => {
  api = await startApi({ maxInstancesPerRollout: 5000 });
});
afterAll(async () => {
  await api.close();
});

/** A request with full control over method, path, headers and raw body (fetch normalises too much). */
function rawRequest(
  url: string,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const target = new URL(url);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: options.method ?? 'GET',
        path: options.path,
        headers: options.headers ?? {},
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

describe('security headers', () => {
  it.each([
    ['a JSON answer', 'GET', '/v1/rollouts', true],
    ['a 401', 'GET', '/v1/rollouts', false],
    ['an unknown route', 'GET', '/nowhere', false],
    ['a health check', 'GET', '/healthz', false],
  ])('are on %s, and x-powered-by is not', async (_name, method, path, authed) => {
    const res = authed ? await api.request(method, path) : await api.requestAs(null, method, path);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'/);
    expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('x-request-id')).toBeTruthy();
  });
});

describe('errors leak nothing', () => {
  it('an unexpected error answers a generic 500 problem: no stack, no message; the log has them with the request id', async () => {
    const { logger, lines } = capturingLogger({ service: 'test' });
    const app = express();
    app.get('/boom', () => {
      throw new Error('connection to 10.0.0.7:5432 failed for user fleet_admin');
    });
    app.use(problemErrorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await rawRequest(`http://127.0.0.1:${(server.address() as { port: number }).port}`, {
        path: '/boom',
      });
      expect(res.status).toBe(500);
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.text).not.toContain('10.0.0.7');
      expect(res.text).not.toMatch(/\bat .*\.ts:\d+/);
      expect(JSON.parse(res.text)).toMatchObject({ status: 500, code: 'internal_error' });
      expect(lines.join('')).toContain('10.0.0.7');
    } finally {
      server.close();
    }
  });

  it('a guarded write that kept losing races answers 409 concurrent_change with Retry-After, naming the row, not 500', async () => {
    const { logger, lines } = capturingLogger({ service: 'test' });
    const app = express();
    const rolloutId = '0b5f3a52-6f0e-4c3c-9d51-6c1b0f3e9a11';
    app.post('/race', () => {
      throw new GuardedWriteRaceError('rollout', rolloutId, `rollout ${rolloutId}: transition pause kept losing races`);
    });
    app.use(problemErrorHandler(logger));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await rawRequest(`http://127.0.0.1:${(server.address() as { port: number }).port}`, {
        method: 'POST',
        path: '/race',
      });
      expect(res.status).toBe(409);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = JSON.parse(res.text) as { code: string; detail: string };
      expect(problem.code).toBe('concurrent_change');
      expect(problem.detail).toContain(`rollout ${rolloutId}`);
      expect(lines.filter((line) => line.includes('unhandled error'))).toEqual([]);
    } finally {
      server.close();
    }
  });

  it('headers over the limit get a 431 problem+json, not a bare Node answer', async () => {
    const res = await rawRequest(api.url, {
      path: '/v1/rollouts',
      headers: { authorization: `Bearer ${api.adminKey}`, 'x-junk': 'a'.repeat(20_000) },
    });
    expect(res.status).toBe(431);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(JSON.parse(res.text)).toMatchObject({ status: 431, code: 'headers_too_large' });
  });

  it('a path with broken percent-encoding gets a 400 problem', async () => {
    const res = await rawRequest(api.url, {
      path: '/v1/rollouts/%E0%A4%A',
      headers: { authorization: `Bearer ${api.adminKey}` },
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.text).not.toContain('URIError');
  });
});

describe('body limits', () => {
  it('refuses JSON nested deeper than 32 levels with 400 naming the place (100,000 levels do not crash it)', async () => {
    for (const depth of [40, 100_000]) {
      const nested = `${'['.repeat(depth)}${']'.repeat(depth)}`;
      const res = await api.request('POST', '/v1/rollouts', `{"userId":"${USER_ID}","instanceIds":${nested}}`, {
        'content-type': 'application/json',
      });
      expect(res.status).toBe(400);
      expect(res.body.errors[0].field).toMatch(/^instanceIds(\[0\])+$/);
    }
    expect((await api.request('GET', '/healthz')).status).toBe(200);
  });

  it.each(['__proto__', 'constructor', 'prototype'])('refuses a %s key anywhere in the body', async (key) => {
    const res = await api.request(
      'POST',
      '/v1/rollouts',
      `{"userId":"${USER_ID}","instanceIds":["i-abc"],"retry":{"${key}":{"polluted":true}}}`,
      { 'content-type': 'application/json' },
    );
    expect(res.status).toBe(400);
    expect(res.body.errors[0]).toMatchObject({ field: `retry.${key}`, message: 'forbidden field name' });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('refuses a body over the size limit with 413 problem+json', async () => {
    const small = await startApi({ sharedWith: api, bodyLimitBytes: 1024 });
    try {
      const res = await small.request('POST', '/v1/rollouts', {
        userId: USER_ID,
        instanceIds: instanceIds(200, 'i-bp'),
      });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('body_too_large');
    } finally {
      await small.close();
    }
  });

  it('refuses a body on any /v1 write that is not JSON (415), routes added later included', async () => {
    const res = await api.request('POST', '/v1/some-future-route', '<xml/>', { 'content-type': 'application/xml' });
    expect(res.status).toBe(415);
  });
});

describe('Postgres down', () => {
  it('answers POST and GET with 503 problem+json at once, and /readyz names postgres', async () => {
    const down = await startApi({ databaseUrl: 'postgresql://postgres@127.0.0.1:1/fleet_nowhere' });
    try {
      const started = Date.now();
      const post = await down.request('POST', '/v1/rollouts', { userId: USER_ID, instanceIds: ['i-abc'] });
      const get = await down.request('GET', '/v1/rollouts/00000000-0000-4000-8000-000000000000');
      for (const res of [post, get]) {
        expect(res.status).toBe(503);
        expect(res.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect(res.body).toMatchObject({ code: 'postgres_unavailable' });
        expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|127\.0\.0\.1:1/);
      }
      expect(Date.now() - started).toBeLessThan(5000);
      const ready = await down.request('GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.dependencies).toEqual({ postgres: 'down', redis: 'up' });
    } finally {
      await down.close();
    }
  });
});

describe('OpenAPI document and docs page', () => {
  it('is OpenAPI 3.1 and describes every registered route, with the schemas the routes validate with', async () => {
    const res = await api.requestAs(null, 'GET', '/openapi.json');
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.openapi).toBe('3.1.0');
    for (const route of listRoutes(api.app)) {
      expect(
        doc.paths[openApiPath(route.path)]?.[route.method.toLowerCase()],
        `${route.method} ${route.path}`,
      ).toBeDefined();
    }
    const create = doc.paths['/v1/rollouts'].post;
    const body = create.requestBody.content['application/json'].schema;
    expect(body.additionalProperties).toBe(false);
    expect(body.required).toEqual(['userId', 'instanceIds']);
    expect(body.properties.instanceIds.maxItems).toBe(5000);
    expect(body.properties.userId.pattern).toBe('^\\d{16}$');
    expect(create.parameters.find((p: { name: string }) => p.name === 'Idempotency-Key')).toMatchObject({
      in: 'header',
    });
    expect(Object.keys(create.responses)).toEqual(
      expect.arrayContaining(['202', '400', '401', '403', '404', '413', '415', '422', '429', '503']),
    );
    expect(create['x-required-role']).toBe('operator');
    expect(doc.paths['/v1/rollouts/{id}'].get.parameters[0]).toMatchObject({ name: 'id', in: 'path', required: true });
    expect(doc.paths['/healthz'].get.security).toEqual([]);
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
    const listQuery = doc.paths['/v1/rollouts'].get.parameters.find((p: { name: string }) => p.name === 'limit');
    expect(listQuery).toMatchObject({
      in: 'query',
      required: false,
      schema: { type: 'integer', minimum: 1, maximum: 200 },
    });
  });

  it('answers match the response schemas the document is made from', async () => {
    const created = await api.request('POST', '/v1/rollouts', {
      userId: USER_ID,
      instanceIds: ['i-contract1', 'i-contract2'],
    });
    createdRolloutSchema.parse(created.body);
    rolloutSchema.parse((await api.request('GET', `/v1/rollouts/${created.body.id}`)).body);
    rolloutPageSchema.parse((await api.request('GET', '/v1/rollouts')).body);
    instancePageSchema.parse((await api.request('GET', `/v1/rollouts/${created.body.id}/instances`)).body);
    instanceDetailSchema.parse(
      (await api.request('GET', `/v1/rollouts/${created.body.id}/instances/i-contract1`)).body,
    );
    createdApiKeySchema.parse(
      (await api.request('POST', '/v1/api-keys', { name: 'contract', role: 'viewer', userIds: [USER_ID] })).body,
    );
    apiKeyListSchema.parse((await api.request('GET', '/v1/api-keys')).body);
    readinessSchema.parse((await api.request('GET', '/readyz')).body);
    problemSchema.parse((await api.request('GET', '/v1/rollouts/nope')).body);
  });

  it('/docs is an HTML page listing every operation, with no script and no outside resource', async () => {
    const res = await api.requestAs(null, 'GET', '/docs');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    const html: string = res.body;
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/(src|href)="https?:/i);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp).toMatch(/^default-src 'none'; style-src 'sha256-/);
    expect(csp).not.toContain('script-src');
    const doc = (await api.requestAs(null, 'GET', '/openapi.json')).body;
    for (const [path, methods] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(methods))
        expect(html).toContain(`<span class="m ${method}">${method}</span> <code>${path}</code>`);
    }
    // The inline stylesheet is exactly the one the policy allows.
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;
    const { createHash } = await import('node:crypto');
    expect(csp).toContain(`'sha256-${createHash('sha256').update(style).digest('base64')}'`);
  });
});
