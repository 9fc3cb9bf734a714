import { Drains } from './reply.ts';
import { createRouter, type RequestListener } from './router.ts';
import { createRoutes, type Route, type RouteDeps } from './routes.ts';

export type { RequestListener, Route };

/** The API: its route table and the request listener serving it. It does not listen. */
export function createApp(deps: RouteDeps): { routes: Route[]; listener: RequestListener } {
  const routes = createRoutes(deps);
  return { routes, listener: createRouter(routes, { ...deps, drains: new Drains(() => deps.core.turn()) }) };
}
