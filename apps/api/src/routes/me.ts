import { Router } from 'express';
import { z } from 'zod';
import { API_ROLES } from '@fleet/db';
import { requireAuth } from '../http/auth.ts';
import type { ApiOperation } from '../openapi.ts';

const ME_PATH = '/v1/me';

/** What a key may know of itself: enough for a client (the console) to show only the actions its role allows. */
const meSchema = z.object({
  keyId: z.uuid(),
  keyName: z.string(),
  keyPrefix: z.string().describe('the first characters of the key'),
  role: z.enum(API_ROLES),
  allAccounts: z.boolean().describe('the key may act for every account'),
  userIds: z.array(z.string()).describe('the accounts it may act for (empty with allAccounts)'),
});

/** `GET /v1/me`: the caller's own key, any role (a viewer's too: it reveals nothing but what the key is). */
export function meRoutes(): Router {
  const router = Router();
  router.get(ME_PATH, (req, res) => {
    const principal = requireAuth(req);
    res.json({
      keyId: principal.keyId,
      keyName: principal.keyName,
      keyPrefix: principal.keyPrefix,
      role: principal.role,
      allAccounts: principal.allAccounts,
      userIds: principal.allAccounts ? [] : [...principal.userIds].sort(),
    } satisfies z.infer<typeof meSchema>);
  });
  return router;
}

export const meOperations: ApiOperation[] = [
  {
    method: 'get',
    path: ME_PATH,
    operationId: 'getMe',
    tag: 'api keys',
    role: 'viewer',
    summary: "The caller's own API key: its name, prefix, role and accounts (never the key)",
    responses: { 200: { description: 'The key making the request', schema: meSchema } },
  },
];
