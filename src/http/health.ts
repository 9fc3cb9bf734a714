import { Router, type Response } from 'express';
import type { AppDeps } from './deps.ts';

/** Reasons the service should not receive traffic; empty when ready. */
export function notReadyReasons(deps: AppDeps): string[] {
  const reasons = deps.lifecycle.shuttingDown ? ['shutting down'] : [];
  return [...reasons, ...deps.repository.notReadyReasons()];
}

function answer(res: Response, reasons: string[]): void {
  if (reasons.length === 0) res.json({ status: 'ok' });
  else res.status(503).json({ status: 'unavailable', reasons });
}

/** Liveness never depends on models: a pod that is loading or draining is alive. */
export function healthRoutes(deps: AppDeps): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => answer(res, []));
  router.get('/ready', (_req, res) => answer(res, notReadyReasons(deps)));
  router.get('/v2/health/live', (_req, res) => answer(res, []));
  router.get('/v2/health/ready', (_req, res) => answer(res, notReadyReasons(deps)));
  return router;
}
