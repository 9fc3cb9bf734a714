import type { ServerResponse } from 'node:http';
import type { Lifecycle } from '../lifecycle.ts';
import type { ModelRepository } from '../models/repository.ts';
import { sendJson } from './reply.ts';

/** Reasons the service should not receive traffic; empty when ready. */
export function notReadyReasons(lifecycle: Lifecycle, repository: ModelRepository): string[] {
  return [...lifecycle.notReadyReasons(), ...repository.notReadyReasons()];
}

/** 200 {"status":"ok"}, or 503 with the reasons. Liveness passes no reasons: it never depends on models. */
export function sendHealth(res: ServerResponse, reasons: string[]): void {
  if (reasons.length === 0) sendJson(res, 200, { status: 'ok' });
  else sendJson(res, 503, { status: 'unavailable', reasons });
}
