// The row format (KServe V1 / TF Serving "instances" and "predictions") as a codec: JSON in, tensors out and back.
import { AppError, invalid } from '../errors.ts';
import type { Signature } from './signature.ts';
import { flatten, fromJsonValues, nestedShape, parseNumberArray, rowJsonTexts, toJsonValues } from '../tensors/json.ts';
import { checkShape, formatShape } from '../tensors/shape.ts';
import type { Tensors, TensorSpec } from '../tensors/types.ts';
import { parseJsonBody } from './json-body.ts';
import { describeIssue, PredictRequest } from './schemas.ts';

export interface RowRequest {
  inputs: Tensors;
  /** Instances, so predictions can be split back into one per instance. */
  count: number;
  timeoutMs?: number;
}

/** A parsed row-format body to input tensors, checked against the model's signature. */
export function decodeRowRequest(model: Signature, json: unknown): RowRequest {
  const parsed = PredictRequest.safeParse(json);
  if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
  const { instances, parameters } = parsed.data;
  return { inputs: instancesToTensors(model, instances), count: instances.length, timeoutMs: parameters?.timeout_ms };
}

const INSTANCES_KEY = Buffer.from('"instances"');
const isSpace = (c: number | undefined) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The fast path of decodeRowBody(): a body that is exactly `{"instances": <rectangular nested array of
 * numbers>}` for a model with one FP32 or FP64 input, parsed from the bytes straight into a typed array
 * (no JSON.parse, no generic validation walk). Anything else, valid or not, gives undefined and goes the
 * generic way, so errors (and every other accepted body) are the generic path's own.
 */
export function decodeNumericRows(model: Signature, body: Uint8Array): RowRequest | undefined {
  if (model.inputs.length !== 1) return undefined;
  const spec = model.inputs[0]!;
  if (spec.type !== 'float32' && spec.type !== 'float64') return undefined;
  let i = 0;
  while (isSpace(body[i])) i++;
  if (body[i++] !== 0x7b) return undefined;
  while (isSpace(body[i])) i++;
  for (let k = 0; k < INSTANCES_KEY.length; k++) if (body[i++] !== INSTANCES_KEY[k]) return undefined;
  while (isSpace(body[i])) i++;
  if (body[i++] !== 0x3a) return undefined;
  while (isSpace(body[i])) i++;
  const parsed = parseNumberArray(body, i, spec.type === 'float32');
  if (!parsed) return undefined;
  i = parsed.end;
  while (isSpace(body[i])) i++;
  if (body[i++] !== 0x7d) return undefined;
  while (isSpace(body[i])) i++;
  if (i !== body.length) return undefined;
  const { dims } = parsed;
  if (dims.length !== spec.shape.length || !spec.shape.every((d, k) => d < 0 || d === dims[k])) return undefined;
  const data = spec.type === 'float32' ? new Float32Array(parsed.count) : new Float64Array(parsed.count);
  data.set(parsed.values.subarray(0, parsed.count));
  return { inputs: { [spec.name]: { type: spec.type, dims, data } }, count: dims[0]!, timeoutMs: undefined };
}

/** A row-format body (bytes) to input tensors: the numeric fast path when it applies, else JSON.parse and decodeRowRequest(). */
export function decodeRowBody(model: Signature, body: Uint8Array): RowRequest {
  return decodeNumericRows(model, body) ?? decodeRowRequest(model, parseJsonBody(body));
}

/** Output tensors to the row-format response body, as JSON text. */
export function encodeRowResponse(model: Signature, outputs: Tensors, count: number): string {
  const head = JSON.stringify({ model: model.name, version: String(model.version) });
  return `${head.slice(0, -1)},"predictions":[${predictionTexts(model, outputs, count).join(',')}]}`;
}

function tensorFromRows(spec: TensorSpec, rows: unknown[], field: string) {
  const dims = nestedShape(rows, field);
  checkShape(spec, dims, field);
  return { type: spec.type, dims, data: fromJsonValues(spec.type, flatten(rows, field), field) };
}

/** Row format (KServe V1 / TF Serving "instances") to input tensors: one instance is one row of every input. */
function instancesToTensors(model: Signature, instances: unknown[]): Tensors {
  const inputs: Tensors = {};
  if (model.inputs.length === 1) {
    const spec = model.inputs[0]!;
    inputs[spec.name] = tensorFromRows(spec, instances, 'instances');
    return inputs;
  }
  const names = model.inputs.map((s) => s.name);
  instances.forEach((instance, i) => {
    if (typeof instance !== 'object' || instance === null || Array.isArray(instance)) {
      throw invalid(`instances[${i}]: model "${model.name}" has ${names.length} inputs, so each instance must be an object keyed by input name (${names.join(', ')})`);
    }
    const extra = Object.keys(instance).find((k) => !names.includes(k));
    if (extra !== undefined) throw invalid(`instances[${i}]: unknown input "${extra.slice(0, 64)}"; inputs are ${names.join(', ')}`);
  });
  for (const spec of model.inputs) {
    const rows = instances.map((instance, i) => {
      const value = (instance as Record<string, unknown>)[spec.name];
      if (value === undefined) throw invalid(`instances[${i}]: missing input "${spec.name}"`);
      return value;
    });
    inputs[spec.name] = tensorFromRows(spec, rows, `instances[].${spec.name}`);
  }
  return inputs;
}

/** Element types whose values print the same from the typed array as from toJsonValues(). */
const PRINTABLE = new Set(['float32', 'float64', 'int8', 'int16', 'int32', 'uint8', 'uint16', 'uint32']);
/** The JSON keys of a model's labels, printed once per labels array. */
const labelKeyCache = new WeakMap<string[], string[]>();
function labelKeys(labels: string[]): string[] {
  let keys = labelKeyCache.get(labels);
  if (!keys) labelKeyCache.set(labels, (keys = labels.map((l) => JSON.stringify(l))));
  return keys;
}

/**
 * Output tensors to the JSON text of one prediction per instance: {label, scores} for labelled classifiers,
 * else the output row (an object keyed by output name for several outputs). Printed from the typed arrays.
 */
function predictionTexts(model: Signature, outputs: Tensors, count: number): string[] {
  const aligned = (name: string) => {
    const t = outputs[name]!;
    if (t.dims[0] !== count) {
      throw new AppError('output_not_row_aligned', 500, `output "${name}" has shape ${formatShape(t.dims)}, which does not split into ${count} rows; use the V2 infer route for this model`);
    }
    return t;
  };
  const rowsOf = (name: string): string[] => rowJsonTexts(aligned(name));
  const labels = model.labels;
  if (labels && model.outputs.length === 1) {
    const t = aligned(model.outputs[0]!.name);
    // Float outputs are read straight from the typed array and printed with String() (JSON.stringify's
    // text for finite numbers; null for the others, as JSON.stringify gives); other types become JSON values first.
    const scores = PRINTABLE.has(t.type) ? (t.data as Float32Array) : (toJsonValues(t) as number[]);
    const size = t.dims.slice(1).reduce((a, b) => a * b, 1);
    const keys = labelKeys(labels);
    const texts: string[] = [];
    for (let r = 0; r < count; r++) {
      const offset = r * size;
      let best = 0;
      for (let i = 1; i < size; i++) if (scores[offset + i]! > scores[offset + best]!) best = i;
      let pairs = '';
      for (let i = 0; i < labels.length && i < size; i++) {
        const v = scores[offset + i]!;
        pairs += `${i === 0 ? '' : ','}${keys[i]}:${Number.isFinite(v) ? String(v) : JSON.stringify(v)}`;
      }
      texts.push(`{"label":${JSON.stringify(labels[best])},"scores":{${pairs}}}`);
    }
    return texts;
  }
  if (model.outputs.length === 1) return rowsOf(model.outputs[0]!.name);
  const perOutput = model.outputs.map((o) => [JSON.stringify(o.name), rowsOf(o.name)] as const);
  return Array.from({ length: count }, (_, i) => `{${perOutput.map(([key, rows]) => `${key}:${rows[i]}`).join(',')}}`);
}
