import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../errors.ts';
import { checkJsonContentType, parseJsonBody, readBody } from './body.ts';
import { startRequest, type RequestState } from './context.ts';
import type { AppDeps } from './deps.ts';
import { shedLoad } from './infer.ts';
import { predictRows } from './predict.ts';
import { sendError, sendJson } from './reply.ts';
import { inferV2 } from './v2.ts';
import { HEADER_LENGTH } from './v2-codec.ts';

interface InferenceRoute {
  /** The route pattern, as metrics and logs name it. */
  route: string;
  path: RegExp;
  format: 'rows' | 'v2';
}

// Capture groups: model name, then version when the route has one.
const ROUTES: InferenceRoute[] = [
  { route: '/predict', path: /^\/predict\/?$/, format: 'rows' },
  { route: '/v1/models/:target', path: /^\/v1\/models\/([^/]+):predict\/?$/, format: 'rows' },
  { route: '/v1/models/:name/versions/:target', path: /^\/v1\/models\/([^/]+)\/versions\/([^/]+):predict\/?$/, format: 'rows' },
  { route: '/v2/models/:name/infer', path: /^\/v2\/models\/([^/]+)\/infer\/?$/, format: 'v2' },
  { route: '/v2/models/:name/versions/:version/infer', path: /^\/v2\/models\/([^/]+)\/versions\/([^/]+)\/infer\/?$/, format: 'v2' },
];

function decodeSegment(segment: string | undefined): string | undefined {
  if (segment === undefined) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new AppError('invalid_request', 400, `path segment ${JSON.stringify(segment.slice(0, 64))} is not valid percent-encoding`);
  }
}

/**
 * The inference routes, served on node:http directly: they carry nearly all of the traffic, and express'
 * routing and response helpers cost as much per request as a small model's whole inference.
 * Returns a handler that answers the request and returns true, or returns false for express to take it.
 */
export function inferenceRoutes(deps: AppDeps): (req: IncomingMessage, res: ServerResponse) => boolean {
  const limit = deps.config.BODY_LIMIT;

  const serve = async (route: InferenceRoute, match: RegExpExecArray, req: IncomingMessage, res: ServerResponse, state: RequestState) => {
    const name = decodeSegment(match[1]);
    const model = deps.repository.resolve(name, decodeSegment(match[2]));
    shedLoad(model);
    if (route.format === 'rows') {
      checkJsonContentType(req);
      const json = parseJsonBody(await readBody(req, limit));
      sendJson(res, 200, await predictRows(deps, model, json, state, res));
    } else {
      const body = await readBody(req, limit);
      const header = req.headers[HEADER_LENGTH];
      const encoded = await inferV2(deps, model, body, Array.isArray(header) ? header[0] : header, state, res);
      res.writeHead(200, { ...encoded.headers, 'content-length': Buffer.byteLength(encoded.body) });
      res.end(encoded.body);
    }
  };

  return (req, res) => {
    if (req.method !== 'POST') return false;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    for (const route of ROUTES) {
      const match = route.path.exec(path);
      if (!match) continue;
      const state = startRequest(deps, req, res, () => route.route);
      serve(route, match, req, res, state).catch((err: unknown) => sendError(deps, req, res, state, err));
      return true;
    }
    return false;
  };
}
