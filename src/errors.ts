/**
 * The one error type the service raises on purpose. `code` is stable; `status` is the HTTP status.
 * A refusal (4xx, or 503: not ready, overloaded) is an answer, not a fault, and carries no stack: capturing
 * and printing one cost more than the answer itself (a 503 burst spent 40% of the main thread on stacks).
 */
export class AppError extends Error {
  override name = 'AppError';
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    const limit = Error.stackTraceLimit;
    if (isRefusal(status)) Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
  }
}

/** 4xx and 503: the request was turned away, nothing failed. */
export const isRefusal = (status: number) => status < 500 || status === 503;

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
