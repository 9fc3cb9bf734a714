import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Metrics } from '../metrics.ts';

/** What an inference handler adds to the request's log line. */
export interface InferenceInfo {
  model: string;
  version: number;
  batchSize?: number;
  queueMs?: number;
  computeMs?: number;
}

const TRACE_HEADER = /^(traceparent|tracestate|b3|x-b3-[a-z]+|l5d-ctx-[a-z-]+)$/;
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestId(req: Request): string {
  const given = req.get('x-request-id');
  return given && REQUEST_ID.test(given) ? given : randomUUID();
}

function traceContext(req: Request): Record<string, string> | undefined {
  let found: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (TRACE_HEADER.test(name) && typeof value === 'string') (found ??= {})[name] = value.slice(0, 256);
  }
  return found;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/** Request id, one log line and the HTTP metrics per request. */
export function requestContext(logger: Logger, metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction) => {
    const started = performance.now();
    const id = requestId(req);
    res.locals.requestId = id;
    res.setHeader('x-request-id', id);
    // 'close' follows 'finish' for every response, and also comes alone when the client went away.
    res.once('close', () => {
      const route = req.route ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      const code = res.writableFinished ? String(res.statusCode) : 'aborted';
      const seconds = (performance.now() - started) / 1000;
      const labels = { method: req.method, route, code };
      metrics.httpRequests.inc(labels);
      metrics.httpDuration.observe(labels, seconds);
      const level = res.statusCode >= 500 ? 'error' : route === '/healthz' || route === '/ready' ? 'debug' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const inference = res.locals.inference as InferenceInfo | undefined;
      const line = {
        requestId: id,
        method: req.method,
        route,
        url: req.originalUrl.length > 256 ? `${req.originalUrl.slice(0, 256)}…` : req.originalUrl,
        status: res.statusCode,
        aborted: !res.writableFinished || undefined,
        durationMs: round(seconds * 1000),
        ...(inference && {
          model: inference.model,
          version: inference.version,
          batchSize: inference.batchSize,
          queueMs: inference.queueMs === undefined ? undefined : round(inference.queueMs),
          computeMs: inference.computeMs === undefined ? undefined : round(inference.computeMs),
        }),
        trace: traceContext(req),
        errorCode: res.locals.errorCode as string | undefined,
      };
      logger[level](line, 'request');
    });
    next();
  };
}

/** Aborts when the client goes away before the response is sent, so queued work can be dropped. */
export function clientSignal(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
