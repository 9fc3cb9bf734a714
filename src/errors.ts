/** The one error type the service raises on purpose. `code` is stable; `status` is the HTTP status. */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const invalid = (message: string) => new AppError('invalid_request', 400, message);
export const notFound = (code: string, message: string) => new AppError(code, 404, message);
export const unavailable = (code: string, message: string, retryAfterSeconds = 1) =>
  new AppError(code, 503, message, { 'retry-after': String(retryAfterSeconds) });

interface HttpErrorLike {
  status?: number;
  statusCode?: number;
  type?: string;
  expose?: boolean;
  message?: string;
  limit?: number;
}

/** Maps anything thrown to the status, headers and body a client sees. Internal details never leak. */
export function toHttpError(err: unknown): { status: number; headers: Record<string, string>; body: { error: string; code: string } } {
  if (err instanceof AppError) {
    return { status: err.status, headers: err.headers, body: { error: err.message, code: err.code } };
  }
  const e = (err ?? {}) as HttpErrorLike;
  const status = e.status ?? e.statusCode;
  // Errors raised by body-parser / http-errors (express' own parsers).
  if (typeof status === 'number' && status >= 400 && status < 500) {
    switch (e.type) {
      case 'entity.too.large':
        return { status: 413, headers: {}, body: { error: `request body is larger than the limit of ${e.limit} bytes`, code: 'body_too_large' } };
      case 'entity.parse.failed':
        return { status: 400, headers: {}, body: { error: `request body is not valid JSON: ${e.message}`, code: 'invalid_json' } };
      case 'encoding.unsupported':
      case 'charset.unsupported':
        return { status: 415, headers: {}, body: { error: e.message ?? 'unsupported encoding', code: 'unsupported_encoding' } };
      case 'request.aborted':
        return { status: 400, headers: {}, body: { error: 'request was aborted by the client', code: 'request_aborted' } };
      default:
        return { status, headers: {}, body: { error: e.expose && e.message ? e.message : 'bad request', code: 'bad_request' } };
    }
  }
  return { status: 500, headers: {}, body: { error: 'internal error: the fault is logged on the server', code: 'internal' } };
}
