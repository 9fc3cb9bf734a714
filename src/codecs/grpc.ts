// The Open Inference Protocol's gRPC messages (proto/inference.proto) as a codec: a decoded ModelInferRequest
// to input tensors and the outputs to return, and output tensors to a ModelInferResponse. Inputs come either
// all as raw_input_contents (little-endian bytes, one entry per input, in order) or all as typed `contents`.
// The reply takes the request's form: raw in, raw out; typed in, typed out, except that FP16 (which has no
// typed field) always goes raw.
import { invalid } from '../errors.ts';
import type { Signature } from './signature.ts';
import { fromBinary, toBinary } from '../tensors/binary.ts';
import { fromJsonValues } from '../tensors/json.ts';
import { checkShape } from '../tensors/shape.ts';
import {
  ARRAY_BY_ELEMENT,
  ELEMENT_BY_V2,
  elementCount,
  V2_BY_ELEMENT,
  V2_DATATYPES,
  type ElementType,
  type NumericArray,
  type TensorBuffer,
  type TensorData,
  type Tensors,
  type V2Datatype,
} from '../tensors/types.ts';

// The messages as @grpc/proto-loader decodes them (keepCase, longs as strings, bytes as Buffers, defaults on).

export interface InferParameter {
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
}

export interface TensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: (string | number)[];
  uint_contents?: number[];
  uint64_contents?: (string | number)[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Uint8Array[];
}

export interface GrpcInferInput {
  name: string;
  datatype: string;
  shape: (string | number)[];
  parameters?: Record<string, InferParameter>;
  contents?: TensorContents | null;
}

export interface GrpcInferRequest {
  model_name: string;
  model_version: string;
  id: string;
  parameters?: Record<string, InferParameter>;
  inputs: GrpcInferInput[];
  outputs?: { name: string; parameters?: Record<string, InferParameter> }[];
  raw_input_contents?: Uint8Array[];
}

export interface GrpcInferOutput {
  name: string;
  datatype: string;
  shape: number[];
  contents?: TensorContents;
}

export interface GrpcInferResponse {
  model_name: string;
  model_version: string;
  id: string;
  outputs: GrpcInferOutput[];
  raw_output_contents: Buffer[];
}

export interface GrpcRequest {
  id: string;
  inputs: Tensors;
  /** Output names to return, in order. */
  outputs: string[];
  /** Reply with raw_output_contents (else typed contents). */
  raw: boolean;
  /** parameters.timeout, in microseconds as Triton gives it, converted to ms. */
  timeoutMs?: number;
}

/** The typed field of InferTensorContents each element type uses; FP16 has none. */
export const CONTENTS_FIELD: Record<ElementType, keyof TensorContents | undefined> = {
  bool: 'bool_contents',
  int8: 'int_contents',
  int16: 'int_contents',
  int32: 'int_contents',
  int64: 'int64_contents',
  uint8: 'uint_contents',
  uint16: 'uint_contents',
  uint32: 'uint_contents',
  uint64: 'uint64_contents',
  float16: undefined,
  float32: 'fp32_contents',
  float64: 'fp64_contents',
  string: 'bytes_contents',
};

const ALL_FIELDS = [...new Set(Object.values(CONTENTS_FIELD).filter((f): f is keyof TensorContents => f !== undefined))];
const MAX_DIMS = 32;

/** A decoded ModelInferRequest to input tensors, checked against the model's signature. */
export function decodeGrpcRequest(model: Signature, request: GrpcInferRequest): GrpcRequest {
  const inputs = request.inputs ?? [];
  if (inputs.length === 0) throw invalid('inputs: expected at least one input, got none');
  const raw = request.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw invalid(`raw_input_contents has ${raw.length} entries but the request has ${inputs.length} inputs; give one entry per input, in the order of inputs`);
  }
  const expected = model.inputs.map((s) => s.name);
  const tensors: Tensors = {};
  inputs.forEach((input, i) => {
    const field = `inputs[${i}]`;
    const spec = model.inputs.find((s) => s.name === input.name);
    if (!spec) throw invalid(`${field}.name: model "${model.name}" has no input "${String(input.name).slice(0, 64)}"; its inputs are ${expected.join(', ')}`);
    if (tensors[spec.name]) throw invalid(`${field}.name: input "${spec.name}" is given twice`);
    if (!(V2_DATATYPES as string[]).includes(input.datatype)) {
      throw invalid(`${field}.datatype: expected one of ${V2_DATATYPES.join(', ')}, got ${JSON.stringify(String(input.datatype).slice(0, 32))}`);
    }
    const type = ELEMENT_BY_V2[input.datatype as V2Datatype];
    if (type !== spec.type) throw invalid(`${field}.datatype: input "${spec.name}" is ${V2_BY_ELEMENT[spec.type]}, got ${input.datatype}`);
    const dims = decodeShape(input.shape ?? [], `${field}.shape`);
    checkShape(spec, dims, `${field}.shape`);
    if (model.batchable && dims[0] === 0) throw invalid(`${field}.shape[0]: expected at least one row, got 0`);
    const count = elementCount(dims, `${field}.shape`);
    let data: TensorBuffer;
    if (raw.length > 0) {
      if (hasContents(input.contents)) throw invalid(`${field}.contents: the request has raw_input_contents, so no input may carry contents; send every input one way`);
      data = decodeRaw(type, count, raw[i]!, `raw_input_contents[${i}]`, spec.name, dims);
    } else {
      data = decodeTyped(type, count, input.contents, field, dims);
    }
    tensors[spec.name] = { type, dims, data };
  });
  const missing = expected.filter((n) => !tensors[n]);
  if (missing.length > 0) throw invalid(`inputs: missing ${missing.map((n) => `"${n}"`).join(', ')}; model "${model.name}" needs ${expected.join(', ')}`);
  return {
    id: request.id ?? '',
    inputs: tensors,
    outputs: selectOutputs(model, request.outputs ?? []),
    raw: raw.length > 0,
    timeoutMs: timeoutOf(request.parameters),
  };
}

/** int64 dims (strings when decoded with longs: String) to numbers, each a non-negative safe integer. */
function decodeShape(shape: readonly (string | number)[], field: string): number[] {
  if (shape.length > MAX_DIMS) throw invalid(`${field}: expected at most ${MAX_DIMS} dimensions, got ${shape.length}`);
  return shape.map((d, i) => {
    const n = Number(d);
    if (!Number.isSafeInteger(n) || n < 0) throw invalid(`${field}[${i}] must be a non-negative integer, got ${String(d).slice(0, 24)}`);
    return n;
  });
}

function hasContents(contents: TensorContents | null | undefined): boolean {
  return !!contents && ALL_FIELDS.some((f) => (contents[f]?.length ?? 0) > 0);
}

const shown = (dims: readonly number[]) => `[${dims.join(', ')}]`;

function decodeRaw(type: ElementType, count: number, bytes: Uint8Array, field: string, name: string, dims: number[]): TensorBuffer {
  if (type !== 'string') {
    const size = ARRAY_BY_ELEMENT[type].BYTES_PER_ELEMENT;
    if (bytes.byteLength !== count * size) {
      throw invalid(
        `${field} (input "${name}") has ${bytes.byteLength} bytes but shape ${shown(dims)} of ${V2_BY_ELEMENT[type]} needs ${count * size} (${count} elements of ${size} bytes)`,
      );
    }
  }
  return fromBinary(type, count, bytes, field);
}

function decodeTyped(type: ElementType, count: number, contents: TensorContents | null | undefined, field: string, dims: number[]): TensorBuffer {
  const wanted = CONTENTS_FIELD[type];
  if (!wanted) throw invalid(`${field}: FP16 has no typed contents field; send FP16 inputs in raw_input_contents (2 bytes per element, little-endian)`);
  if (!contents) throw invalid(`${field}.contents is missing; send the data in contents.${wanted}, or every input in raw_input_contents`);
  const stray = ALL_FIELDS.find((f) => f !== wanted && (contents[f]?.length ?? 0) > 0);
  if (stray) throw invalid(`${field}.contents.${stray} holds data, but ${V2_BY_ELEMENT[type]} data goes in contents.${wanted}`);
  const values = contents[wanted] ?? [];
  if (values.length !== count) throw invalid(`${field}.contents.${wanted} has ${values.length} elements but shape ${shown(dims)} needs ${count}`);
  const at = `${field}.contents.${wanted}`;
  switch (type) {
    case 'string':
      return (values as Uint8Array[]).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
    case 'int64':
    case 'uint64': {
      const out = new ARRAY_BY_ELEMENT[type](count) as BigInt64Array;
      (values as (string | number)[]).forEach((v, i) => {
        try {
          out[i] = BigInt(v);
        } catch {
          throw invalid(`${at}[${i}] must be an integer, got ${String(v).slice(0, 24)}`);
        }
      });
      return out;
    }
    default:
      // Bool, 8- to 32-bit integers (range-checked: int_contents carries INT8 and INT16 too) and floats.
      return fromJsonValues(type, values as unknown[], at);
  }
}

function selectOutputs(model: Signature, requested: readonly { name: string }[]): string[] {
  if (requested.length === 0) return model.outputs.map((o) => o.name);
  return requested.map((o, i) => {
    if (requested.findIndex((other) => other.name === o.name) !== i) throw invalid(`outputs[${i}].name: output "${o.name.slice(0, 64)}" is requested twice`);
    if (!model.outputs.some((s) => s.name === o.name)) {
      throw invalid(`outputs[${i}].name: model "${model.name}" has no output "${o.name.slice(0, 64)}"; its outputs are ${model.outputs.map((s) => s.name).join(', ')}`);
    }
    return o.name;
  });
}

/** parameters.timeout: microseconds, as Triton's clients send it (int64, uint64 or double). */
function timeoutOf(parameters: Record<string, InferParameter> | undefined): number | undefined {
  const p = parameters?.timeout;
  if (!p) return undefined;
  const value = p.int64_param ?? p.uint64_param ?? p.double_param;
  const us = Number(value);
  if (value === undefined || !Number.isFinite(us) || us <= 0) {
    throw invalid(`parameters.timeout must be a positive number of microseconds (int64_param, uint64_param or double_param), got ${JSON.stringify(p).slice(0, 64)}`);
  }
  return us / 1000;
}

/** The ModelInferResponse for a request's selected outputs, raw or typed. */
export function encodeGrpcResponse(model: Signature, id: string, outputs: Tensors, selected: readonly string[], raw: boolean): GrpcInferResponse {
  // FP16 has no typed field, and raw and typed contents may not be mixed in one reply.
  const asRaw = raw || selected.some((name) => outputs[name]!.type === 'float16');
  const response: GrpcInferResponse = { model_name: model.name, model_version: String(model.version), id, outputs: [], raw_output_contents: [] };
  for (const name of selected) {
    const t = outputs[name]!;
    const out: GrpcInferOutput = { name, datatype: V2_BY_ELEMENT[t.type], shape: t.dims };
    if (asRaw) response.raw_output_contents.push(toBinary(t));
    else out.contents = typedContents(t);
    response.outputs.push(out);
  }
  return response;
}

function typedContents(t: TensorData): TensorContents {
  const field = CONTENTS_FIELD[t.type]!;
  switch (t.type) {
    case 'string':
      return { [field]: (t.data as string[]).map((s) => Buffer.from(s, 'utf8')) };
    case 'bool':
      return { [field]: Array.from(t.data as Uint8Array, (v) => v !== 0) };
    case 'int64':
    case 'uint64':
      return { [field]: Array.from(t.data as BigInt64Array, (v) => v.toString()) };
    default:
      return { [field]: Array.from(t.data as Exclude<NumericArray, BigInt64Array | BigUint64Array>) };
  }
}
