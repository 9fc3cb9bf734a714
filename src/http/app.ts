import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { AppError } from '../errors.ts';
import { startRequest, type RequestState } from './context.ts';
import type { AppDeps } from './deps.ts';
import { healthRoutes } from './health.ts';
import { inferenceRoutes } from './inference-routes.ts';
import { createDocsPage } from './docs-page.ts';
import { buildOpenApi } from './openapi.ts';
import { sendError } from './reply.ts';
import { v2Routes } from './v2.ts';

export type { AppDeps, Lifecycle } from './deps.ts';

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

/** The service's request listener: the inference routes first, express for everything else. It does not listen. */
export function createApp(deps: AppDeps): RequestListener {
  const inference = inferenceRoutes(deps);
  const app = expressApp(deps);
  return (req, res) => {
    if (!inference(req, res)) app(req, res);
  };
}

/** Health, metadata, documentation and the 404 for anything else. */
function expressApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use((req, res, next) => {
    res.locals.state = startRequest(deps, req, res, () => (req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched'));
    next();
  });

  app.use(healthRoutes(deps));
  app.use(v2Routes(deps));

  const openapi = JSON.stringify(buildOpenApi(deps.version));
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });
  // The page and its assets (Swagger UI from swagger-ui-dist); anything else under /docs is the JSON 404.
  const docs = createDocsPage({ specUrl: '/openapi.json', title: 'meshserve API' });
  const serveDocs = (req: Request, res: Response, next: NextFunction) => {
    if (!docs(req, res)) next();
  };
  app.get('/docs', serveDocs);
  app.get('/docs/:file', serveDocs);

  app.use((req: Request) => {
    throw new AppError('route_not_found', 404, `no route ${req.method} ${req.path.slice(0, 200)}; the API is described at GET /openapi.json`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendError(deps, req, res, res.locals.state as RequestState | undefined, err);
  });
  return app;
}
