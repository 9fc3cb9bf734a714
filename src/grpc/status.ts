// The one mapping from the service's errors (AppError: a stable code and an HTTP status) to gRPC status codes.
// README.md's gRPC error table lists the same mapping.
import { Metadata, status } from '@grpc/grpc-js';
import { AppError } from '../errors.ts';

/** Codes whose gRPC status is not the one their HTTP status implies. */
const BY_CODE: Record<string, status> = {
  deadline_exceeded: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  route_not_found: status.UNIMPLEMENTED,
};

/** gRPC status by HTTP status: 4xx are the caller's to fix, 503 is worth retrying (elsewhere), 5xx are faults. */
const BY_HTTP_STATUS: Record<number, status> = {
  400: status.INVALID_ARGUMENT,
  404: status.NOT_FOUND,
  408: status.DEADLINE_EXCEEDED,
  413: status.RESOURCE_EXHAUSTED,
  415: status.INVALID_ARGUMENT,
  431: status.RESOURCE_EXHAUSTED,
  499: status.CANCELLED,
  503: status.UNAVAILABLE,
};

export interface GrpcError {
  code: status;
  details: string;
  /** The stable error code (README's error table), also sent as the `meshserve-error-code` trailer. */
  appCode: string;
  metadata: Metadata;
}

/** Maps anything thrown to the status a gRPC client sees. Internal details never leak. */
export function toGrpcError(err: unknown): GrpcError {
  const metadata = new Metadata();
  if (!(err instanceof AppError)) {
    metadata.set('meshserve-error-code', 'internal');
    return { code: status.INTERNAL, details: 'internal error: the fault is logged on the server', appCode: 'internal', metadata };
  }
  const code = BY_CODE[err.code] ?? BY_HTTP_STATUS[err.status] ?? (err.status < 500 ? status.INVALID_ARGUMENT : status.INTERNAL);
  metadata.set('meshserve-error-code', err.code);
  const retryAfter = err.headers['retry-after'];
  if (retryAfter !== undefined) metadata.set('retry-after', retryAfter);
  return { code, details: err.message, appCode: err.code, metadata };
}

/** "UNAVAILABLE" for 14: the label metrics and logs use. */
export function statusName(code: status): string {
  return status[code] ?? String(code);
}
