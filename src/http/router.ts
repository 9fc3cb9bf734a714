import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { AppError } from '../errors.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Metrics } from '../metrics.ts';
import { Drains, sendError } from './reply.ts';
import { startRequest, type RequestState } from './request-log.ts';
import type { Route } from './routes.ts';

export interface HandlerContext {
  req: IncomingMessage;
  res: ServerResponse;
  /** Path parameters, percent-decoded. */
  params: Record<string, string>;
  state: RequestState;
}

/** Most request headers accepted; a request with more is answered 431 (the server keeps one more to tell). */
export const MAX_HEADERS = 100;

export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void;

export interface RouterDeps {
  logger: Logger;
  metrics: Metrics;
  lifecycle: Lifecycle;
  /** Where refused uploads are drained (in turns of main-thread work); one per server. */
  drains?: Drains;
}

/** "/v1/models/{name}:predict" -> "/v1/models/:name:predict", the label metrics and logs use. */
export function routeLabel(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1');
}

interface Compiled {
  route: Route;
  label: string;
  pattern: RegExp;
  params: string[];
}

function compile(route: Route): Compiled {
  const params: string[] = [];
  const source = route.path
    .split(/(\{\w+\})/)
    .map((part) => {
      const param = /^\{(\w+)\}$/.exec(part);
      if (!param) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(param[1]!);
      return '([^/]+?)';
    })
    .join('');
  // A trailing slash is accepted, as express did.
  return { route, label: routeLabel(route.path), pattern: new RegExp(`^${source}/?$`), params };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError('invalid_request', 400, `path segment ${JSON.stringify(segment.slice(0, 64))} is not valid percent-encoding`);
  }
}

/** The request listener for a route table: match, start the request's log and metrics, run the handler, map errors. */
export function createRouter(routes: readonly Route[], deps: RouterDeps): RequestListener {
  const compiled = routes.map(compile);
  const drains = deps.drains ?? new Drains();
  const notFound = (req: IncomingMessage, path: string) =>
    new AppError('route_not_found', 404, `no route ${req.method} ${path.slice(0, 200)}; the API is described at GET /openapi.json`);

  return (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    let found: Compiled | undefined;
    let match: RegExpExecArray | null = null;
    for (const c of compiled) {
      if (c.route.method !== method) continue;
      match = c.pattern.exec(path);
      if (match) {
        found = c;
        break;
      }
    }
    const label = found?.label ?? 'unmatched';
    const state = startRequest(deps, req, res, label, found?.route.probe);
    const fail = (err: unknown) => sendError(deps.logger, res, state, label, err, drains);
    if (req.rawHeaders.length / 2 > MAX_HEADERS) {
      fail(new AppError('headers_too_large', 431, `the request has more than ${MAX_HEADERS} headers`));
      return;
    }
    if (!found) {
      fail(notFound(req, path));
      return;
    }
    try {
      const params: Record<string, string> = {};
      found.params.forEach((name, i) => (params[name] = decodeSegment(match![i + 1]!)));
      const done = found.route.handle({ req, res, params, state });
      if (done instanceof Promise) done.catch(fail);
    } catch (err) {
      fail(err);
    }
  };
}
