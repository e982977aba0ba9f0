import type { Application } from 'express';

export type RegisteredRoute = { method: string; path: string };

type StackLayer = {
  rawPath?: unknown;
  route?: { path: unknown; methods: Record<string, boolean> };
  handle?: { stack?: StackLayer[] };
};

/**
 * Every route registered on the app, as `{ method: 'GET', path: '/v1/rollouts/:id' }`, read from Express 5's
 * router stack (routers mounted at a path included). The OpenAPI document uses it to list routes nobody described,
 * and the tenancy test to make sure no route escapes it.
 */
export function listRoutes(app: Application): RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const walk = (stack: StackLayer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route && typeof layer.route.path === 'string') {
        for (const method of Object.keys(layer.route.methods)) {
          if (method !== '_all') routes.push({ method: method.toUpperCase(), path: prefix + layer.route.path });
        }
      } else if (layer.handle?.stack) {
        const mount = typeof layer.rawPath === 'string' && layer.rawPath !== '/' ? layer.rawPath : '';
        walk(layer.handle.stack, prefix + mount);
      }
    }
  };
  walk((app as unknown as { router: { stack: StackLayer[] } }).router.stack, '');
  return routes;
}
