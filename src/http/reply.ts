import type { IncomingMessage, ServerResponse } from 'node:http';
import { toHttpError } from '../errors.ts';
import type { RequestState } from './context.ts';
import type { AppDeps } from './deps.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The one place an error becomes a reply: status, headers and `{ error, code }`; faults are logged, never shown. */
export function sendError(deps: AppDeps, req: IncomingMessage, res: ServerResponse, state: RequestState | undefined, err: unknown): void {
  const { status, headers, body } = toHttpError(err);
  if (state) state.errorCode = body.code;
  if (status >= 500) deps.logger.error({ err, requestId: state?.id, route: (req.url ?? '').split('?')[0]!.slice(0, 200) }, 'request failed');
  if (res.headersSent || status === 499) {
    res.destroy();
    return;
  }
  sendJson(res, status, body, headers);
}
