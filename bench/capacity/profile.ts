/**
 * From the committed single-pod measurements (bench/results/capacity-validation.json) to the
 * pod model's parameters, and the check of the model against the measured validation points.
 */
import { readFileSync } from 'node:fs';
import { simulateClosedLoop, type ClosedLoopResult } from './closed.ts';
import type { MeasuredPoint, Validation } from './measure.ts';
import { SERVICE_DEFAULTS, type BatcherSettings, type PodProfile } from './pod.ts';

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
 * onnxruntime's marginal cost of one more row in a batch, one thread, from the committed suite
 * (bench/results/latest.json, in-process ceiling, batches 8 to 32): measured on a quiet machine.
 */
export function perRowCost(latest = JSON.parse(readFileSync(new URL('../results/latest.json', import.meta.url), 'utf8'))): number {
  const run = (latest.ceiling as Array<{ threads: number; sessions: number; points: Array<{ batch: number; msPerBatch: number }> }>).find((c) => c.threads === 1 && c.sessions === 1)!;
  const at = (b: number) => run.points.find((p) => p.batch === b)!.msPerBatch / 1000;
  return (at(32) - at(8)) / 24;
}

/**
 * Solves the model's unknowns from the calibration runs (never from the validation points).
 * A batch of b rows costs a + m*b on the worker; a request costs h on the main thread. Saturated
 * closed-loop runs on one pinned core are CPU-bound, so their time per request is CPU per request:
 *   off-64 (batches of 1):     S1 = h + a + m
 *   b8-256 (batches of 8):     S8 = h + a/8 + m
 * so a = 8/7 (S1 - S8), and h + m = S1 - a; m (per row) comes from the quiet in-process runs of the
 * committed suite, since the in-process runs of the same session share the core with other work.
 *   off-1 (one connection):    1/X = S1 + network (loopback, autocannon, thread wake-ups)
 *   on-1 (one connection):     1/X = that + the effective batch delay (BATCH_DELAY_MS plus timer slack)
 */
export function calibrate(v: Validation, m = perRowCost()): Calibration {
  const cal = v.calibration;
  const S1 = perRequest(cal['off-64']!);
  const S8 = perRequest(cal['b8-256']!);
  const a = Math.max(0, ((S1 - S8) * 8) / 7);
  const h = Math.max(0, S1 - a - m);
  const L1 = perRequest(cal['off-1']!);
  const L1on = perRequest(cal['on-1']!);
  const networkDelay = Math.max(0, L1 - S1);
  const batchDelay = Math.max(0, L1on - L1);
  const batchCost: Array<[number, number]> = [
    [1, a + m],
    [1024, a + 1024 * m],
  ];
  return {
    // Reading and parsing a request costs more than writing its answer; half and half is an assumption.
    profile: { cores: 1, batchCost, batchOverhead: 0, requestCost: h / 2, replyCost: h / 2, rejectCost: h / 20 },
    settings: { ...SERVICE_DEFAULTS, batchDelay },
    networkDelay,
    derivation: { S1, S8, a, m, h, L1, L1on, networkDelay, batchDelay, c1: a + m, c32: a + 32 * m },
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
