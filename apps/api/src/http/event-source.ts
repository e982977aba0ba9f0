import type { Request } from 'express';
import type { EventSource } from '@fleet/rollout-domain';
import { requireAuth } from './auth.ts';

/**
 * Who a request's changes are made by, for their events: the authenticated API key (id and name, never the key)
 * and the request's X-Request-Id (set by the request-id middleware before anything else runs).
 */
export function eventSourceOf(req: Request): EventSource {
  const principal = requireAuth(req);
  const requestId = req.res?.getHeader('x-request-id');
  return {
    actor: { kind: 'api_key', id: principal.keyId, name: principal.keyName },
    requestId: typeof requestId === 'string' ? requestId : null,
  };
}
