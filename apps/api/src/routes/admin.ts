import express, { Router } from 'express';
import type { Request, RequestHandler } from 'express';
import { z } from 'zod';
import { ApiError, ValidationError } from '@fleet/errors';
import type { AdminSessionDeps } from '../http/admin-session.ts';
import { ADMIN_SESSION_TTL_MS, authenticateAdmin, closeAdminSession, openAdminSession } from '../http/admin-session.ts';
import { principalFromApiKey, principalFromBearer, requireRole } from '../http/auth.ts';
import { setContentSecurityPolicy } from '../http/security-headers.ts';
import type { ApiOperation } from '../openapi.ts';
import type { QueueBoard } from '../queue-board.ts';
import { QUEUE_BOARD_PATH } from '../queue-board.ts';

const SESSION_PATH = '/admin/session';

/** The sign-in page: a form that POSTs the key in the body (never in the URL); no script, no style. */
const SIGN_IN_PAGE = [
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Fleet admin sign-in</title></head><body>',
  '<h1>Fleet admin sign-in</h1>',
  `<p>An admin API key opens the queue board at <a href="${QUEUE_BOARD_PATH}">${QUEUE_BOARD_PATH}</a>`,
  ` for ${ADMIN_SESSION_TTL_MS / 60_000} minutes.</p>`,
  `<form method="post" action="${SESSION_PATH}">`,
  '<label>Admin API key <input type="password" name="key" autocomplete="off" required></label> ',
  '<button type="submit">Sign in</button></form></body></html>',
].join('');
const SIGN_IN_CONTENT_SECURITY_POLICY =
  "default-src 'none'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/** A form posted from another site's page (login CSRF): refused. A script without these headers is not a browser. */
function isCrossSite(req: Request): boolean {
  if (req.get('sec-fetch-site') === 'cross-site') return true;
  const origin = req.get('origin');
  if (!origin || origin === 'null') return origin === 'null';
  try {
    return new URL(origin).host !== req.get('host');
  } catch {
    return true;
  }
}

const signInFormSchema = z.object({ key: z.string().min(1).max(512) });

/**
 * `/admin/session` (sign in and out of the admin pages) and the queue board at `/admin/queues` (queue-board.ts),
 * admins only, authenticated by authenticateAdmin: a Bearer key or the session cookie.
 */
export function adminRoutes(deps: AdminSessionDeps & { queueBoard: QueueBoard; rateLimit: RequestHandler }): Router {
  const router = Router();
  router.get(SESSION_PATH, (_req, res) => {
    setContentSecurityPolicy(res, SIGN_IN_CONTENT_SECURITY_POLICY);
    res.type('text/html; charset=utf-8').send(SIGN_IN_PAGE);
  });
  router.post(
    SESSION_PATH,
    express.urlencoded({ extended: false, limit: '2kb', parameterLimit: 4 }),
    async (req, res) => {
      const fromForm = req.get('authorization') === undefined;
      if (fromForm && isCrossSite(req))
        throw new ApiError(403, 'forbidden', 'Forbidden', 'A sign-in form posted from another site is refused');
      let principal;
      if (fromForm) {
        const parsed = signInFormSchema.safeParse(req.body ?? {});
        if (!parsed.success)
          throw new ValidationError('An admin API key is required: Authorization: Bearer <key>, or a form field key', [
            {
              in: 'body',
              path: 'key',
              message:
                'required: an API key of the admin role (flt_...), 1 to 512 characters (the value is not repeated here)',
            },
          ]);
        principal = (await principalFromApiKey(deps, req, res, parsed.data.key)).principal;
      } else {
        principal = (await principalFromBearer(deps, req, res)).principal;
      }
      req.auth = principal;
      requireRole(req, 'admin');
      await openAdminSession(deps, req, res, principal);
      if (fromForm) res.redirect(303, QUEUE_BOARD_PATH);
      else res.status(204).end();
    },
  );
  router.delete(SESSION_PATH, async (req, res) => {
    await closeAdminSession(deps, req, res);
    res.status(204).end();
  });
  router.use(QUEUE_BOARD_PATH, authenticateAdmin(deps), deps.rateLimit, deps.queueBoard.handler);
  return router;
}

export const adminOperations: ApiOperation[] = [
  {
    method: 'get',
    path: SESSION_PATH,
    operationId: 'getAdminSignInPage',
    tag: 'admin',
    role: 'public',
    summary: 'The sign-in page of the admin pages (an HTML form that posts an admin key)',
    responses: { 200: { description: 'HTML', schema: z.string(), contentType: 'text/html' } },
  },
  {
    method: 'post',
    path: SESSION_PATH,
    operationId: 'openAdminSession',
    tag: 'admin',
    role: 'admin',
    summary: 'Opens an admin session: a cookie that lets a browser into /admin/queues for 15 minutes',
    description:
      'The admin key in `Authorization: Bearer` (answers 204) or as the form field `key` of ' +
      '`application/x-www-form-urlencoded` (answers 303 to /admin/queues). Sets `fleet_admin_session` ' +
      '(HttpOnly, SameSite=Strict, Path=/admin, Secure over HTTPS); the key itself is never in the cookie, a URL or Redis.',
    responses: {
      204: {
        description: 'Signed in (Bearer); the cookie is in `Set-Cookie`',
        headers: { 'Set-Cookie': 'The session' },
      },
      303: { description: 'Signed in (form); on to /admin/queues', headers: { 'Set-Cookie': 'The session' } },
    },
  },
  {
    method: 'delete',
    path: SESSION_PATH,
    operationId: 'closeAdminSession',
    tag: 'admin',
    role: 'public',
    summary: 'Ends the admin session of the cookie sent, and clears the cookie',
    responses: { 204: { description: 'Signed out' } },
  },
  {
    method: 'get',
    path: QUEUE_BOARD_PATH,
    operationId: 'getQueueBoard',
    tag: 'admin',
    role: 'admin',
    summary: 'The queue board (bull-board, read-only): the install queue of every open rollout the key may see',
    description:
      'Authenticated by the admin session cookie (POST /admin/session) or `Authorization: Bearer`. Its JSON API is ' +
      "bull-board's, under /admin/queues/api (e.g. GET /admin/queues/api/queues); every action on a queue or job " +
      'answers 405: pause, resume, cancel and retry rollouts through /v1.',
    responses: { 200: { description: 'HTML', schema: z.string(), contentType: 'text/html' } },
  },
];
