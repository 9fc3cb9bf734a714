import express, { type NextFunction, type Request, type Response } from 'express';
import { AppError, toHttpError } from '../errors.ts';
import { requestContext } from './context.ts';
import type { AppDeps } from './deps.ts';
import { healthRoutes } from './health.ts';
import { buildOpenApi, DOCS_HTML, DOCS_JS } from './openapi.ts';
import { predictRoutes } from './predict.ts';
import { v2Routes } from './v2.ts';

export type { AppDeps, Lifecycle } from './deps.ts';

const API_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
};

/** Builds the express app on its dependencies; it does not listen. */
export function createApp(deps: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requestContext(deps.logger, deps.metrics));
  app.use((_req, res, next) => {
    res.set(API_HEADERS);
    // Once draining, ask keep-alive clients to reconnect, so they move to other replicas without a reset.
    if (deps.lifecycle.shuttingDown) res.set('connection', 'close');
    next();
  });

  app.use(healthRoutes(deps));
  app.use(predictRoutes(deps));
  app.use(v2Routes(deps));

  const openapi = JSON.stringify(buildOpenApi(deps.version));
  app.get('/openapi.json', (_req, res) => {
    res.type('application/json').send(openapi);
  });
  app.get('/docs', (_req, res) => {
    res.set('content-security-policy', "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'");
    res.type('html').send(DOCS_HTML);
  });
  app.get('/docs/app.js', (_req, res) => {
    res.type('application/javascript').send(DOCS_JS);
  });

  app.use((req: Request) => {
    throw new AppError('route_not_found', 404, `no route ${req.method} ${req.path.slice(0, 200)}; the API is described at GET /openapi.json`);
  });
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const { status, headers, body } = toHttpError(err);
    res.locals.errorCode = body.code;
    if (status >= 500) deps.logger.error({ err, requestId: res.locals.requestId, route: req.path.slice(0, 200) }, 'request failed');
    if (res.headersSent || status === 499) {
      res.destroy();
      return;
    }
    res.status(status).set(headers).json(body);
  });
  return app;
}
