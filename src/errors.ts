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

/** Maps anything thrown to the status, headers and body a client sees. Internal details never leak. */
export function toHttpError(err: unknown): { status: number; headers: Record<string, string>; body: { error: string; code: string } } {
  if (err instanceof AppError) {
    return { status: err.status, headers: err.headers, body: { error: err.message, code: err.code } };
  }
  return { status: 500, headers: {}, body: { error: 'internal error: the fault is logged on the server', code: 'internal' } };
}
