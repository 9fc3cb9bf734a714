// The row format (KServe V1 / TF Serving "instances" and "predictions") as a codec: JSON in, tensors out and back.
import { AppError, invalid } from '../errors.ts';
import type { Model } from '../models/model.ts';
import { flatten, fromJsonValues, nest, nestedShape, toJsonValues } from '../tensors/json.ts';
import { checkShape, formatShape } from '../tensors/shape.ts';
import type { Tensors, TensorSpec } from '../tensors/types.ts';
import { describeIssue, PredictRequest } from './schemas.ts';

export interface RowRequest {
  inputs: Tensors;
  /** Instances, so predictions can be split back into one per instance. */
  count: number;
  timeoutMs?: number;
}

/** A parsed row-format body to input tensors, checked against the model's signature. */
export function decodeRowRequest(model: Model, json: unknown): RowRequest {
  const parsed = PredictRequest.safeParse(json);
  if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
  const { instances, parameters } = parsed.data;
  return { inputs: instancesToTensors(model, instances), count: instances.length, timeoutMs: parameters?.timeout_ms };
}

/** Output tensors to the row-format response body. */
export function encodeRowResponse(model: Model, outputs: Tensors, count: number) {
  return { model: model.name, version: String(model.version), predictions: tensorsToPredictions(model, outputs, count) };
}

function tensorFromRows(spec: TensorSpec, rows: unknown[], field: string) {
  const dims = nestedShape(rows, field);
  checkShape(spec, dims, field);
  return { type: spec.type, dims, data: fromJsonValues(spec.type, flatten(rows, field), field) };
}

/** Row format (KServe V1 / TF Serving "instances") to input tensors: one instance is one row of every input. */
function instancesToTensors(model: Model, instances: unknown[]): Tensors {
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

/** Output tensors to one prediction per instance: {label, scores} for labelled classifiers, else the output row(s). */
function tensorsToPredictions(model: Model, outputs: Tensors, count: number): unknown[] {
  const rowsOf = (name: string): unknown[] => {
    const t = outputs[name]!;
    if (t.dims[0] !== count) {
      throw new AppError('output_not_row_aligned', 500, `output "${name}" has shape ${formatShape(t.dims)}, which does not split into ${count} rows; use the V2 infer route for this model`);
    }
    return nest(toJsonValues(t), t.dims) as unknown[];
  };
  const labels = model.config.labels;
  if (labels && model.outputs.length === 1) {
    const rows = rowsOf(model.outputs[0]!.name) as number[][];
    return rows.map((row) => {
      const scores = flatten(row, 'output') as number[];
      let best = 0;
      for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
      return { label: labels[best], scores: Object.fromEntries(labels.map((l, i) => [l, scores[i]])) };
    });
  }
  if (model.outputs.length === 1) return rowsOf(model.outputs[0]!.name);
  const perOutput = model.outputs.map((o) => [o.name, rowsOf(o.name)] as const);
  return Array.from({ length: count }, (_, i) => Object.fromEntries(perOutput.map(([name, rows]) => [name, rows[i]])));
}
