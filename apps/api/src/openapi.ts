import { z } from 'zod';
import type { ApiRole } from '@fleet/db';
import type { RegisteredRoute } from './http/route-list.ts';
import { problemSchema } from './response-schemas.ts';

/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes validate with (z.toJSONSchema) plus a short
 * description per operation. A route registered on the app without a description still appears (marked
 * undocumented), so the document never silently lacks a route.
 */

export type ApiOperation = {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete';
  /** Express syntax (`/v1/rollouts/:id`). */
  path: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  /** The least role that may call it; `public` for routes without authentication. */
  role: ApiRole | 'public';
  params?: z.ZodObject;
  query?: z.ZodObject;
  headers?: { name: string; description: string; required?: boolean; schema: z.ZodType }[];
  body?: z.ZodType;
  /** Accepts `Idempotency-Key` (and may answer 422). */
  idempotent?: boolean;
  responses: Record<
    number,
    { description: string; schema?: z.ZodType; contentType?: string; headers?: Record<string, string> }
  >;
};

type JsonSchema = Record<string, unknown>;
export type OpenApiDocument = {
  openapi: '3.1.0';
  info: { title: string; version: string; description: string };
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, unknown>;
  security: Record<string, string[]>[];
  tags: { name: string; description?: string }[];
};

/** JSON Schema 2020-12 (what OpenAPI 3.1 uses) of what a client sends. */
function toJsonSchema(schema: z.ZodType, io: 'input' | 'output' = 'input'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io,
    unrepresentable: 'any',
  }) as JsonSchema;
  return rest;
}

/** `/v1/rollouts/:id` -> `/v1/rollouts/{id}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: PROBLEM_REF } },
});

function parameters(schema: z.ZodObject | undefined, location: 'path' | 'query'): unknown[] {
  if (!schema) return [];
  const json = toJsonSchema(schema);
  const properties = (json.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set((json.required ?? []) as string[]);
  return Object.entries(properties).map(([name, property]) => {
    const { description, ...propertySchema } = property;
    return {
      name,
      in: location,
      required: location === 'path' || required.has(name),
      ...(description ? { description } : {}),
      schema: propertySchema,
    };
  });
}

function operationObject(operation: ApiOperation): Record<string, unknown> {
  const isPublic = operation.role === 'public';
  const responses: Record<string, unknown> = {};
  for (const [status, response] of Object.entries(operation.responses)) {
    responses[status] = {
      description: response.description,
      ...(response.headers
        ? {
            headers: Object.fromEntries(
              Object.entries(response.headers).map(([name, description]) => [
                name,
                { description, schema: { type: 'string' } },
              ]),
            ),
          }
        : {}),
      ...(response.schema
        ? {
            content: {
              [response.contentType ?? 'application/json']: { schema: toJsonSchema(response.schema, 'output') },
            },
          }
        : {}),
    };
  }
  const hasInput = Boolean(operation.params || operation.query || operation.body || operation.headers);
  if (hasInput) responses['400'] = problem('Malformed request: `errors` names each field at fault');
  if (!isPublic) {
    responses['401'] = problem('Missing, malformed, unknown or revoked API key (`WWW-Authenticate: Bearer`)');
    responses['403'] = problem(`The API key's role is below ${operation.role}`);
    responses['404'] = problem('Not found, or belongs to an account outside the API key (the same answer)');
    responses['429'] = problem('Rate limit of the API key exceeded; see `Retry-After`');
    responses['503'] = problem('Postgres or Redis unavailable; retry later');
  }
  if (operation.body) {
    responses['413'] = problem('Body larger than the limit (BODY_LIMIT_BYTES); the detail says both sizes in bytes');
    responses['415'] = problem('Body is not application/json');
  }
  if (operation.idempotent) responses['422'] = problem('Idempotency-Key already used with a different request');
  const params = [
    ...parameters(operation.params, 'path'),
    ...parameters(operation.query, 'query'),
    ...(operation.headers ?? []).map((h) => ({
      name: h.name,
      in: 'header',
      required: h.required ?? false,
      description: h.description,
      schema: toJsonSchema(h.schema),
    })),
  ];
  return {
    operationId: operation.operationId,
    summary: operation.summary,
    ...(operation.description ? { description: operation.description } : {}),
    tags: [operation.tag],
    'x-required-role': operation.role,
    ...(isPublic ? { security: [] } : {}),
    ...(params.length > 0 ? { parameters: params } : {}),
    ...(operation.body
      ? { requestBody: { required: true, content: { 'application/json': { schema: toJsonSchema(operation.body) } } } }
      : {}),
    responses,
  };
}

export function buildOpenApiDocument(options: {
  operations: readonly ApiOperation[];
  routes: readonly RegisteredRoute[];
  version: string;
}): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  for (const operation of options.operations) {
    (paths[openApiPath(operation.path)] ??= {})[operation.method] = operationObject(operation);
  }
  for (const route of options.routes) {
    const method = route.method.toLowerCase();
    if (method === 'head' || method === 'options') continue;
    const entry = (paths[openApiPath(route.path)] ??= {});
    if (entry[method]) continue;
    const pathParams = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      schema: { type: 'string' },
    }));
    entry[method] = {
      summary: `${route.method} ${route.path} (undocumented)`,
      description: 'This route is registered but has no description in the document yet.',
      tags: ['undocumented'],
      ...(pathParams.length > 0 ? { parameters: pathParams } : {}),
      ...(route.path.startsWith('/v1/') ? {} : { security: [] }),
      responses: { default: problem('See the route') },
    };
  }
  const tags = [
    ...new Set(
      Object.values(paths).flatMap((ops) => Object.values(ops).flatMap((op) => (op as { tags?: string[] }).tags ?? [])),
    ),
  ].map((name) => ({ name }));
  return {
    openapi: '3.1.0',
    info: {
      title: 'Fleet rollout API',
      version: options.version,
      description:
        'Installs the CloudMonitor agent on ECS fleets. Every `/v1` request needs `Authorization: Bearer <API key>`. ' +
        'Roles: `viewer` reads; `operator` also creates, pauses, resumes, cancels and retries rollouts; `admin` also manages API keys. ' +
        'An object of an account outside the key answers 404, exactly like one that does not exist. ' +
        'Errors are RFC 9457 `application/problem+json`. Each key is rate limited (429 with `Retry-After`).',
    },
    security: [{ bearerAuth: [] }],
    tags,
    paths,
    components: {
      securitySchemes: {
        bearerAuth: {
          type: 'http',
          scheme: 'bearer',
          description: 'An API key (`flt_...`), made by an admin (POST /v1/api-keys) or by `npm run create-api-key`',
        },
      },
      schemas: { Problem: toJsonSchema(problemSchema, 'output') },
    },
  };
}
