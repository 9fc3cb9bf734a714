/**
 * From the committed single-pod measurements (bench/results/capacity-validation.json) to the
 * pod model's parameters, and the check of the model against the measured validation points.
 */
import { readFileSync } from 'node:fs';
import { simulateClosedLoop, type ClosedLoopResult } from './closed.ts';
import type { MeasuredPoint, Validation } from './measure.ts';
import { batchSeconds, SERVICE_DEFAULTS, type BatcherSettings, type PodProfile } from './pod.ts';

export interface Calibration {
  profile: PodProfile;
  settings: BatcherSettings;
  /** Round-trip seconds outside the pod's CPU on the bench (loopback, autocannon, wake-ups). */
  networkDelay: number;
  /** How each number was derived, for the docs. */
  derivation: Record<string, number>;
}

/** Seconds per request of a closed-loop run: 1 / throughput. */
const perRequest = (p: MeasuredPoint) => 1 / p.reqPerSec;

/**
 * Solves the model's unknowns from the calibration runs (never from the validation points):
 *   off-64 (batches of 1, saturated):   S1 = h + k + c(1)
 *   b8-256 (batches of 8, saturated):   S8 = h + (k + c(8)) / 8
 *   off-1 (one connection, batch of 1): L1 = S1 + network
 *   on-1 (one connection, batching on): L1' = L1 + effective batch delay
 * with c(b) onnxruntime's measured cost per batch, h the main thread's CPU per request and k the
 * CPU per batch beyond onnxruntime's. Saturated runs on one pinned core are CPU-bound, so their
 * time per request is CPU per request.
 */
export function calibrate(v: Validation): Calibration {
  const batchCost = v.batchMs.map(([b, ms]) => [b, ms / 1000] as [number, number]);
  const c = (b: number) => batchSeconds(batchCost, b);
  const cal = v.calibration;
  const S1 = perRequest(cal['off-64']!);
  const S8 = perRequest(cal['b8-256']!);
  const k = Math.max(0, ((S1 - c(1) - (S8 - c(8) / 8)) * 8) / 7);
  const h = Math.max(0, S1 - c(1) - k);
  const L1 = perRequest(cal['off-1']!);
  const L1on = perRequest(cal['on-1']!);
  const networkDelay = Math.max(0, L1 - S1);
  const batchDelay = Math.max(0, L1on - L1);
  return {
    // Reading and parsing a request costs more than writing its answer; half and half is an assumption.
    profile: { cores: 1, batchCost, batchOverhead: k, requestCost: h / 2, replyCost: h / 2, rejectCost: h / 20 },
    settings: { ...SERVICE_DEFAULTS, batchDelay },
    networkDelay,
    derivation: { S1, S8, c1: c(1), c8: c(8), h, k, L1, L1on, networkDelay, batchDelay },
  };
}

export interface ValidationRow {
  connections: number;
  measured: MeasuredPoint;
  simulated: ClosedLoopResult;
  /** (simulated - measured) / measured. */
  throughputError: number;
  p99Error: number;
}

export function validate(v: Validation, cal = calibrate(v)): ValidationRow[] {
  return v.points.map((m) => {
    const simulated = simulateClosedLoop({ profile: cal.profile, settings: cal.settings, connections: m.connections, duration: 10, warmup: 2, networkDelay: cal.networkDelay });
    return {
      connections: m.connections,
      measured: m,
      simulated,
      throughputError: (simulated.reqPerSec - m.reqPerSec) / m.reqPerSec,
      p99Error: (simulated.p99 - m.p99) / m.p99,
    };
  });
}

export function loadValidation(file: string): Validation {
  return JSON.parse(readFileSync(file, 'utf8')) as Validation;
}
