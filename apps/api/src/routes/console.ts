/**
 * The web console (apps/dashboard, built to static files) at `/`: the API serves it so that there is no second server
 * to run, and the console talks to this same origin's public `/v1` routes with the key its user signs in with.
 *
 *   GET /                     index.html of the build
 *   GET /assets/...           the build's scripts and styles (content-hashed names: cached for a year)
 *   GET <a console page>      index.html again (the page's own URL, for a reload or a shared link): the paths of
 *                             CONSOLE_PAGES only, so every other unknown path keeps its 404 problem+json
 *
 * A strict Content-Security-Policy: scripts and styles from this origin only, no inline script or style, requests
 * only to this origin, no framing. Without a build (no index.html in `dir`) the console's paths answer 503 naming
 * the command that builds it; the API itself works on.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';
import type { RequestHandler, Response } from 'express';
import { z } from 'zod';
import { ApiError } from '@fleet/errors';
import type { ApiOperation } from '../openapi.ts';
import { setContentSecurityPolicy } from '../http/security-headers.ts';

export const CONSOLE_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The console's own pages (its router's paths, apps/dashboard/src/app.tsx), besides `/`. */
const CONSOLE_PAGES = [
  /^\/sign-in\/?$/,
  /^\/rollouts\/?$/,
  /^\/rollouts\/[^/]+\/?$/,
  /^\/rollouts\/[^/]+\/failures\/?$/,
  /^\/rollouts\/[^/]+\/instances\/[^/]+\/?$/,
  /^\/flags\/?$/,
  /^\/new\/?$/,
  /^\/settings\/?$/,
];

export type ConsoleRoutesDeps = {
  /** The console's build (apps/dashboard/dist): index.html and assets/. Undefined: none (503 console_not_built). */
  dir: string | undefined;
};

function notBuilt(): ApiError {
  return new ApiError(
    503,
    'console_not_built',
    'Console not built',
    'The web console has not been built: run `npm run build --workspace @fleet/dashboard` (npm start does it)',
  );
}

export function consoleRoutes(deps: ConsoleRoutesDeps): Router {
  const router = Router();
  const dir = deps.dir;
  const indexFile = dir === undefined ? undefined : path.join(dir, 'index.html');
  // Read on each page load (half a kilobyte): a build made while the API runs is served at once, never a stale page
  // naming files the new build removed.
  const sendIndex = (res: Response) => {
    let indexHtml: string;
    try {
      if (indexFile === undefined) throw notBuilt();
      indexHtml = readFileSync(indexFile, 'utf8');
    } catch (error) {
      if (error instanceof ApiError) throw error;
      throw notBuilt();
    }
    setContentSecurityPolicy(res, CONSOLE_CONTENT_SECURITY_POLICY);
    res.type('text/html; charset=utf-8').send(indexHtml);
  };

  router.get('/', (_req, res) => sendIndex(res));
  if (dir !== undefined)
    router.use(
      '/assets',
      express.static(path.join(dir, 'assets'), {
        index: false,
        fallthrough: true,
        setHeaders: (res) => {
          setContentSecurityPolicy(res, CONSOLE_CONTENT_SECURITY_POLICY);
          // Names carry a hash of the content: a changed file is a new name.
          res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
        },
      }),
    );
  const consolePage: RequestHandler = (req, res, next) => {
    if ((req.method !== 'GET' && req.method !== 'HEAD') || !CONSOLE_PAGES.some((page) => page.test(req.path)))
      return next();
    sendIndex(res);
  };
  router.use(consolePage);
  return router;
}

export const consoleOperations: ApiOperation[] = [
  {
    method: 'get',
    path: '/',
    operationId: 'getConsole',
    tag: 'console',
    role: 'public',
    summary: 'The web console (HTML; it signs in with an API key and uses the /v1 routes)',
    description:
      'The console page; its own paths (`/rollouts/{id}`, `/flags`, `/new`, `/settings`, ...) answer the same page. ' +
      'Served with a strict Content-Security-Policy (`script-src ' +
      "'self'`, no inline script or style). 503 `console_not_built` when the build is missing.",
    responses: {
      200: { description: 'HTML', schema: z.string(), contentType: 'text/html' },
      503: { description: 'The console was not built (`console_not_built`)' },
    },
  },
];
