import { createHash } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { setContentSecurityPolicy } from '../http/security-headers.ts';
import { listRoutes } from '../http/route-list.ts';
import type { ApiOperation, OpenApiDocument } from '../openapi.ts';
import { buildOpenApiDocument } from '../openapi.ts';

const API_VERSION = '1.0.0';

/**
 * `/openapi.json`: the OpenAPI 3.1 document. `/docs`: the same document as a readable HTML page, rendered here on
 * the server: no script at all, no CDN (the page must work on machines without internet), one inline stylesheet
 * allowed by its hash in the Content-Security-Policy.
 */
export function docsRoutes(options: { operations: () => readonly ApiOperation[] }): Router {
  const router = Router();
  let document: OpenApiDocument | undefined;
  let page: string | undefined;
  // Built on first use: by then every route of the app is registered.
  const documentFor = (app: Parameters<typeof listRoutes>[0]) =>
    (document ??= buildOpenApiDocument({
      operations: options.operations(),
      routes: listRoutes(app),
      version: API_VERSION,
    }));

  router.get('/openapi.json', (req, res) => {
    res.json(documentFor(req.app));
  });
  router.get('/docs', (req, res) => {
    page ??= renderDocsPage(documentFor(req.app));
    setContentSecurityPolicy(res, DOCS_CONTENT_SECURITY_POLICY);
    res.type('text/html; charset=utf-8').send(page);
  });
  return router;
}

export const docsOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/openapi.json',
    operationId: 'getOpenApiDocument',
    tag: 'meta',
    role: 'public',
    summary: 'This document (OpenAPI 3.1)',
    responses: { 200: { description: 'The OpenAPI document', schema: z.record(z.string(), z.unknown()) } },
  },
  {
    method: 'get',
    path: '/docs',
    operationId: 'getDocsPage',
    tag: 'meta',
    role: 'public',
    summary: 'This document as an HTML page',
    responses: { 200: { description: 'HTML', schema: z.string(), contentType: 'text/html' } },
  },
];

const STYLE = `
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:64rem;padding:0 1rem;color:#1d2430}
h1{margin-bottom:.2rem}h2{border-bottom:1px solid #d6dbe3;padding-bottom:.2rem;margin-top:2rem}
details{border:1px solid #d6dbe3;border-radius:6px;margin:.5rem 0;padding:.4rem .7rem}
summary{cursor:pointer}code,pre{font:13px/1.4 ui-monospace,monospace}
pre{background:#f4f6f9;padding:.6rem;overflow:auto;max-height:24rem}
.m{display:inline-block;min-width:4.2rem;font-weight:600;text-transform:uppercase}
.get{color:#1b6ac9}.post{color:#1f8a4c}.patch,.put{color:#a86500}.delete{color:#c0392b}
.role{float:right;font-size:12px;color:#5b6472}table{border-collapse:collapse;width:100%}
td,th{border:1px solid #d6dbe3;padding:.25rem .4rem;text-align:left;vertical-align:top}`;

const STYLE_HASH = createHash('sha256').update(STYLE).digest('base64');
const DOCS_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  `style-src 'sha256-${STYLE_HASH}'`,
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function json(value: unknown): string {
  return `<pre>${escapeHtml(JSON.stringify(value, null, 2))}</pre>`;
}

type OperationObject = {
  operationId?: string;
  summary?: string;
  description?: string;
  tags?: string[];
  'x-required-role'?: string;
  parameters?: { name: string; in: string; required?: boolean; description?: string; schema?: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses?: Record<string, { description: string; content?: Record<string, { schema: unknown }> }>;
};

function renderOperation(path: string, method: string, op: OperationObject): string {
  const params = op.parameters?.length
    ? `<h4>Parameters</h4><table><tr><th>name</th><th>in</th><th>required</th><th>schema</th></tr>${op.parameters
        .map(
          (p) =>
            `<tr><td><code>${escapeHtml(p.name)}</code>${p.description ? `<br>${escapeHtml(p.description)}` : ''}</td>` +
            `<td>${escapeHtml(p.in)}</td><td>${p.required ? 'yes' : 'no'}</td>` +
            `<td><code>${escapeHtml(JSON.stringify(p.schema))}</code></td></tr>`,
        )
        .join('')}</table>`
    : '';
  const body = op.requestBody
    ? `<h4>Request body (application/json)</h4>${json(Object.values(op.requestBody.content)[0]?.schema)}`
    : '';
  const responses = Object.entries(op.responses ?? {})
    .map(([status, r]) => {
      const [type, content] = Object.entries(r.content ?? {})[0] ?? [];
      const schema = content && type !== 'application/problem+json' ? json(content.schema) : '';
      return `<li><b>${escapeHtml(status)}</b> ${escapeHtml(r.description)}${type ? ` <code>${escapeHtml(type)}</code>` : ''}${schema}</li>`;
    })
    .join('');
  const summary =
    `<summary><span class="m ${escapeHtml(method)}">${escapeHtml(method)}</span> <code>${escapeHtml(path)}</code> ` +
    `${escapeHtml(op.summary ?? '')}<span class="role">${escapeHtml(op['x-required-role'] ?? '')}</span></summary>`;
  const description = op.description ? `<p>${escapeHtml(op.description)}</p>` : '';
  return (
    `<details id="${escapeHtml(op.operationId ?? `${method}-${path}`)}">${summary}${description}` +
    `${params}${body}<h4>Responses</h4><ul>${responses}</ul></details>`
  );
}

function renderDocsPage(document: OpenApiDocument): string {
  const byTag = new Map<string, string[]>();
  for (const [path, methods] of Object.entries(document.paths)) {
    for (const [method, op] of Object.entries(methods) as [string, OperationObject][]) {
      const tag = op.tags?.[0] ?? 'other';
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag)!.push(renderOperation(path, method, op));
    }
  }
  const sections = [...byTag.entries()].map(([tag, ops]) => `<h2>${escapeHtml(tag)}</h2>${ops.join('')}`).join('');
  const title = escapeHtml(document.info.title);
  return [
    '<!doctype html><html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width,initial-scale=1">',
    `<title>${title}</title><style>${STYLE}</style></head><body>`,
    `<h1>${title} <small>${escapeHtml(document.info.version)}</small></h1>`,
    `<p>${escapeHtml(document.info.description)}</p>`,
    '<p>Machine-readable: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). ',
    'Errors: <code>application/problem+json</code> (RFC 9457).</p>',
    `${sections}</body></html>`,
  ].join('');
}
