// Business metrics of one model version: what it predicts (a counter per label) and what it is fed (per tracked
// feature: count, sum and sum of squares, from which PromQL computes the serving mean and variance). The inference
// core calls recordInputs() with every request's decoded inputs and recordPredictions() with every successful
// request's outputs. A request costs one pass over its rows, adding into typed arrays, with no allocation and no
// prom-client call: the pending amounts move into the counters (children bound once here) when a scrape collects.
import type { Metrics } from '../metrics.ts';
import type { NumericArray, TensorData, Tensors, TensorSpec } from '../tensors/types.ts';
import type { ModelConfig } from './config.ts';

export interface ModelStatistics {
  /** Adds the tracked features of a request's decoded inputs. Call before the inputs are handed to the worker. */
  recordInputs(inputs: Tensors): void;
  /** Counts one prediction per row: the label of the largest score of the labelled output. */
  recordPredictions(outputs: Tensors): void;
  /** Moves what is pending into the counters and stops doing so at scrapes (the model version is closed). */
  close(): void;
}

interface Increment {
  inc(value?: number): void;
}

/** Element types whose typed arrays hold plain numbers (float16 is raw bits, 64-bit integers are bigints). */
const NUMERIC = new Set(['float32', 'float64', 'int8', 'int16', 'int32', 'uint8', 'uint16', 'uint32', 'bool']);

export interface StatisticsOptions {
  name: string;
  version: number;
  config: ModelConfig;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  metrics: Metrics;
}

/**
 * Binds the model version's business metrics. Throws an Error (the repository adds the model's file) when reference does
 * not fit the model's signature (unknown input, not a 2-D numeric input, a column past the input's width).
 */
export function createStatistics(o: StatisticsOptions): ModelStatistics {
  const labels = { model: o.name, version: String(o.version) };
  const inputs = bindInputs(o, labels);
  const predictions = bindPredictions(o, labels);
  if (!inputs && !predictions) return { recordInputs() {}, recordPredictions() {}, close() {} };
  const flush = () => {
    inputs?.flush();
    predictions?.flush();
  };
  const remove = o.metrics.onCollect(flush);
  return {
    recordInputs: inputs?.record ?? (() => {}),
    recordPredictions: predictions?.record ?? (() => {}),
    close: () => {
      flush();
      remove();
    },
  };
}

interface Recorder {
  record(tensors: Tensors): void;
  /** Adds the pending amounts to the counters and zeroes them. */
  flush(): void;
}

/** Adds pending[i] to counters[i] where it is positive, and zeroes pending. */
function flushInto(pending: Float64Array, counters: Increment[]): void {
  for (let i = 0; i < counters.length; i++) {
    const amount = pending[i]!;
    if (amount > 0) counters[i]!.inc(amount);
    pending[i] = 0;
  }
}

function bindInputs(o: StatisticsOptions, labels: { model: string; version: string }): Recorder | undefined {
  const features = o.config.reference?.features;
  if (!features) return undefined;
  const where = 'config.json reference';
  const inputName = o.config.reference?.input ?? (o.inputs.length === 1 ? o.inputs[0]!.name : undefined);
  if (inputName === undefined) throw new Error(`${where}: the model has ${o.inputs.length} inputs (${o.inputs.map((s) => s.name).join(', ')}); name the one the features are columns of in reference.input`);
  const spec = o.inputs.find((s) => s.name === inputName);
  if (!spec) throw new Error(`${where}: input "${inputName}" is not an input of the model (${o.inputs.map((s) => s.name).join(', ')})`);
  if (spec.shape.length !== 2) throw new Error(`${where}: input "${inputName}" has shape [${spec.shape.join(', ')}]; features are columns of a 2-D input [rows, columns]`);
  if (!NUMERIC.has(spec.type)) throw new Error(`${where}: input "${inputName}" has element type ${spec.type}; tracked features need float32, float64 or an integer type of at most 32 bits`);
  const width = spec.shape[1]!;
  const columns = Int32Array.from(features, (f, i) => f.index ?? i);
  features.forEach((f, i) => {
    if (width >= 0 && columns[i]! >= width) throw new Error(`${where}: feature "${f.name}" is column ${columns[i]}, but input "${inputName}" has ${width} columns`);
  });
  // Per feature k, counters[4k .. 4k+3]: count, positive sum, negative magnitude sum, sum of squares.
  const counters: Increment[] = [];
  for (const f of features) {
    const l = { ...labels, feature: f.name };
    o.metrics.featureReferenceMean.set(l, f.mean);
    o.metrics.featureReferenceStddev.set(l, f.std);
    counters.push(
      o.metrics.featureObservations.labels(l),
      o.metrics.featureSum.labels({ ...l, sign: 'positive' }),
      o.metrics.featureSum.labels({ ...l, sign: 'negative' }),
      o.metrics.featureSquares.labels(l),
    );
  }
  // Every series exists from the start (at 0), so rate() has a first sample before the first request.
  for (const c of counters) c.inc(0);
  const n = features.length;
  const pending = new Float64Array(4 * n);
  const record = (tensors: Tensors) => {
    const t = tensors[inputName];
    if (!t || t.dims.length !== 2 || Array.isArray(t.data)) return;
    const rows = t.dims[0]!;
    const cols = t.dims[1]!;
    const data = t.data as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    for (let k = 0; k < n; k++) {
      const column = columns[k]!;
      if (column >= cols) continue;
      let seen = 0;
      let pos = 0;
      let neg = 0;
      let sq = 0;
      for (let i = 0, at = column; i < rows; i++, at += cols) {
        const v = data[at]!;
        if (v - v !== 0) continue; // NaN and infinities (possible in binary FP32/FP64 data) are not counted
        seen++;
        if (v >= 0) pos += v;
        else neg -= v;
        sq += v * v;
      }
      const at = 4 * k;
      pending[at] = pending[at]! + seen;
      pending[at + 1] = pending[at + 1]! + pos;
      pending[at + 2] = pending[at + 2]! + neg;
      pending[at + 3] = pending[at + 3]! + sq;
    }
  };
  return { record, flush: () => flushInto(pending, counters) };
}

/**
 * The labelled output is the model's only output (the repository refuses labels otherwise): rows of one score per
 * label; the prediction is the label of the largest score, the first on ties, as the row format answers it.
 */
function bindPredictions(o: StatisticsOptions, labels: { model: string; version: string }): Recorder | undefined {
  const names = o.config.labels;
  if (!names) return undefined;
  const k = names.length;
  const spec = o.outputs.length === 1 ? o.outputs[0] : undefined;
  if (!spec || !NUMERIC.has(spec.type)) return undefined;
  const priors = o.config.reference?.priors;
  const children: Increment[] = names.map((label) => {
    if (priors) o.metrics.predictionReference.set({ ...labels, label }, priors[label] ?? 0);
    const child = o.metrics.predictions.labels({ ...labels, label });
    child.inc(0);
    return child;
  });
  const pending = new Float64Array(k);
  const outputName = spec.name;
  const record = (outputs: Tensors) => {
    const t: TensorData | undefined = outputs[outputName];
    if (!t || t.dims.length !== 2 || t.dims[1] !== k || Array.isArray(t.data)) return;
    const rows = t.dims[0]!;
    const data = t.data as Exclude<NumericArray, BigInt64Array | BigUint64Array>;
    for (let i = 0, at = 0; i < rows; i++, at += k) {
      let best = 0;
      for (let j = 1; j < k; j++) if (data[at + j]! > data[at + best]!) best = j;
      pending[best] = pending[best]! + 1;
    }
  };
  return { record, flush: () => flushInto(pending, children) };
}
