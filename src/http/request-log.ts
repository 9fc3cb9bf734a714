// Per-request bookkeeping of the HTTP transport: request id, the API's response headers, and when the
// response closes, the HTTP metrics and one log line.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { InferenceTrace } from '../inference/core.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Metrics } from '../metrics.ts';

/** Per-request state shared by the request's handler, its error reply and its log line. */
export interface RequestState {
  id: string;
  inference?: InferenceTrace;
  errorCode?: string;
}

export interface RequestLogDeps {
  logger: Logger;
  metrics: Metrics;
  lifecycle: Lifecycle;
}

const API_HEADERS: [string, string][] = [
  ['x-content-type-options', 'nosniff'],
  ['cache-control', 'no-store'],
  ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
  ['referrer-policy', 'no-referrer'],
];

const API_HEADER_LIST = API_HEADERS.flat();
const CLOSE = ['connection', 'close'];
/** The response's API headers as a flat [name, value, ...] list, kept on the response until its reply is written. */
const HEADERS = Symbol('meshserve.apiHeaders');
type WithHeaders = ServerResponse & { [HEADERS]?: string[] };

/**
 * The API's headers for this response (request id, security headers, and `connection: close` while draining)
 * as a flat list for writeHead(): every reply is written with one writeHead() call that gives them with its
 * own headers, instead of setHeader() calls that Node validates and stores one by one.
 */
export function apiHeaders(res: ServerResponse): string[] {
  return (res as WithHeaders)[HEADERS] ?? [];
}

const TRACE_HEADER = /^(traceparent|tracestate|b3|x-b3-[a-z]+|l5d-ctx-[a-z-]+)$/;
const REQUEST_ID = /^[\w.:@/+=-]{1,128}$/;

export function requestId(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

function traceContext(req: IncomingMessage): Record<string, string> | undefined {
  let found: Record<string, string> | undefined;
  for (const [name, value] of Object.entries(req.headers)) {
    if (TRACE_HEADER.test(name) && typeof value === 'string') (found ??= {})[name] = value.slice(0, 256);
  }
  return found;
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;

/**
 * Starts a request: request id, the API's response headers, and on 'close' the HTTP metrics and one log line.
 * `route` is the matched route pattern (never the raw URL); `quiet` routes (probes) log at debug.
 */
export function startRequest(deps: RequestLogDeps, req: IncomingMessage, res: ServerResponse, route: string, quiet = false): RequestState {
  const { logger, metrics } = deps;
  const started = performance.now();
  const state: RequestState = { id: requestId(req) };
  // Once draining, ask keep-alive clients to reconnect, so they move to other replicas without a reset.
  (res as WithHeaders)[HEADERS] = deps.lifecycle.draining ? ['x-request-id', state.id, ...API_HEADER_LIST, ...CLOSE] : ['x-request-id', state.id, ...API_HEADER_LIST];
  // 'close' follows 'finish' for every response, and also comes alone when the client went away.
  res.once('close', () => {
    const name = route;
    const code = res.writableFinished ? String(res.statusCode) : 'aborted';
    const seconds = (performance.now() - started) / 1000;
    metrics.observeHttp(req.method ?? 'GET', name, code, seconds);
    // 503 is load shed or a model not ready yet: worth a warning, not an error line per refused request.
    const level = res.statusCode === 503 ? 'warn' : res.statusCode >= 500 ? 'error' : quiet ? 'debug' : 'info';
    if (!logger.isLevelEnabled(level)) return;
    const url = req.url ?? '';
    const inference = state.inference;
    const line = {
      requestId: state.id,
      method: req.method,
      route: name,
      url: url.length > 256 ? `${url.slice(0, 256)}…` : url,
      // A client that left before the reply got none: no status to report.
      status: res.headersSent ? res.statusCode : undefined,
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
      errorCode: state.errorCode,
    };
    logger[level](line, 'request');
  });
  return state;
}
