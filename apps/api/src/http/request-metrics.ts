import type { Application, Request, RequestHandler } from 'express';
import type { HttpMetrics } from '@fleet/metrics';
import { UNMATCHED_ROUTE } from '@fleet/metrics';
import { listRoutes } from './route-list.ts';

type RoutePattern = { method: string; pattern: string; regex: RegExp };

/** A registered route as a matcher: `:name` segments match one segment; patterns with other syntax are left out. */
function toPattern(route: { method: string; path: string }): RoutePattern | null {
  if (/[*(){}?+]/.test(route.path)) return null;
  const escaped = route.path
    .split(/(:[A-Za-z0-9_]+)/)
    .map((part) => (part.startsWith(':') ? '[^/]+' : part.replace(/[.\\^$|[\]]/g, '\\$&')));
  return { method: route.method, pattern: route.path, regex: new RegExp(`^${escaped.join('')}/?$`) };
}

/**
 * Counts every answered request with its route's pattern (`/v1/rollouts/:id`), never the raw path, whose ids would
 * make one series each. A request refused before its route ran (a missing key, a rate limit, another tenant's
 * rollout) still has the pattern of the route its method and path would have reached: the registered routes are
 * read from the app once, at the first answer (every route is registered by then). A request no route would take
 * is counted as `unmatched`.
 */
export function requestMetrics(metrics: HttpMetrics, app: Application): RequestHandler {
  let patterns: RoutePattern[] | null = null;
  const routeOf = (req: Request): string => {
    const matched: unknown = req.route?.path;
    if (typeof matched === 'string') return req.baseUrl + matched;
    patterns ??= listRoutes(app).flatMap((route) => toPattern(route) ?? []);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    return patterns.find((p) => p.method === method && p.regex.test(req.path))?.pattern ?? UNMATCHED_ROUTE;
  };
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      metrics.requestFinished({
        method: req.method,
        route: routeOf(req),
        status: res.statusCode,
        durationSeconds: Number(process.hrtime.bigint() - started) / 1e9,
      });
    });
    next();
  };
}
