import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { toHttpError } from '../errors.ts';
import { apiHeaders, type RequestState } from './request-log.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), headers);
}

/**
 * Writes the status line and headers in one writeHead() call: the API's headers (request-log.ts) unless
 * `headers` gives its own value for one of them, then `headers` (lower-case names).
 */
export function writeHead(res: ServerResponse, status: number, headers: Record<string, string>): void {
  const base = apiHeaders(res);
  const list: string[] = [];
  for (let i = 0; i < base.length; i += 2) if (!(base[i]! in headers)) list.push(base[i]!, base[i + 1]!);
  for (const name in headers) list.push(name, headers[name]!);
  res.writeHead(status, list);
}

/** Sends text (or its UTF-8 bytes) that is already JSON. */
export function sendText(res: ServerResponse, status: number, text: string | Buffer, headers: Record<string, string> = {}): void {
  writeHead(res, status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** The one place an error becomes a reply: status, headers and `{ error, code }`; faults are logged, never shown. */
export function sendError(logger: Logger, res: ServerResponse, state: RequestState, route: string, err: unknown): void {
  const { status, headers, body } = toHttpError(err);
  state.errorCode = body.code;
  if (status >= 500) logger.error({ err, requestId: state.id, route }, 'request failed');
  // 499: the client left; nobody is there to answer.
  if (res.headersSent || status === 499) {
    res.destroy();
    return;
  }
  sendJson(res, status, body, headers);
}
