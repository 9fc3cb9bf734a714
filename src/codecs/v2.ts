// The KServe V2 / Open Inference Protocol REST body as a codec: JSON tensors, or a JSON header followed by
// binary tensor data (Triton's binary tensor data extension).
import type { z } from 'zod';
import { AppError, invalid } from '../errors.ts';
import type { Signature } from './signature.ts';
import { fromBinary, toBinary } from '../tensors/binary.ts';
import { flatten, fromJsonValues, toJsonArrayText } from '../tensors/json.ts';
import { checkShape } from '../tensors/shape.ts';
import { ELEMENT_BY_V2, elementCount, V2_BY_ELEMENT, type TensorData, type Tensors, type V2Datatype } from '../tensors/types.ts';
import { describeIssue, V2InferRequest } from './schemas.ts';

export const HEADER_LENGTH = 'inference-header-content-length';

export type InferRequest = z.output<typeof V2InferRequest>;

export interface SelectedOutput {
  name: string;
  binary: boolean;
}

export interface V2Request {
  id?: string;
  inputs: Tensors;
  outputs: SelectedOutput[];
  /** parameters.timeout is in microseconds (Triton's semantics). */
  timeoutMs?: number;
}

/** A V2 body (and its Inference-Header-Content-Length header) to input tensors and the outputs to return. */
export function decodeV2Request(model: Signature, body: Buffer, headerLength: string | undefined): V2Request {
  const { request, binary } = parseInferBody(body, headerLength);
  const timeoutUs = request.parameters?.timeout;
  return {
    id: request.id,
    inputs: decodeInputs(model, request, binary),
    outputs: selectOutputs(model, request),
    timeoutMs: timeoutUs === undefined ? undefined : timeoutUs / 1000,
  };
}

/**
 * Splits a V2 body into its JSON header and binary part. Without Inference-Header-Content-Length the whole
 * body is JSON, whatever the content type (Triton and KServe clients send none).
 */
function parseInferBody(body: Buffer, headerLength: string | undefined): { request: InferRequest; binary: Buffer } {
  let jsonEnd = body.length;
  if (headerLength !== undefined) {
    if (!/^\d{1,10}$/.test(headerLength.trim())) throw invalid(`Inference-Header-Content-Length must be a byte count, got ${JSON.stringify(headerLength.slice(0, 32))}`);
    jsonEnd = Number(headerLength);
    if (jsonEnd === 0 || jsonEnd > body.length) {
      throw invalid(`Inference-Header-Content-Length is ${jsonEnd} but the body has ${body.length} bytes; it must give the length of the JSON header (1..${body.length})`);
    }
  }
  if (body.length === 0) throw invalid('request body is empty; expected a JSON inference request');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8', 0, jsonEnd));
  } catch (err) {
    // The same code as the row-format routes give for a body that is not JSON.
    throw new AppError('invalid_json', 400, `request body is not valid JSON${headerLength !== undefined ? ' in its first Inference-Header-Content-Length bytes' : ''}: ${(err as Error).message}`);
  }
  const parsed = V2InferRequest.safeParse(json);
  if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
  return { request: parsed.data, binary: body.subarray(jsonEnd) };
}

/** Checks the request's inputs against the model's signature and decodes them (JSON data or binary parts, in order). */
function decodeInputs(model: Signature, request: InferRequest, binary: Buffer): Tensors {
  const expected = model.inputs.map((s) => s.name);
  const inputs: Tensors = {};
  let offset = 0;
  request.inputs.forEach((input, i) => {
    const field = `inputs[${i}]`;
    const spec = model.inputs.find((s) => s.name === input.name);
    if (!spec) throw invalid(`${field}.name: model "${model.name}" has no input "${input.name.slice(0, 64)}"; its inputs are ${expected.join(', ')}`);
    if (inputs[spec.name]) throw invalid(`${field}.name: input "${spec.name}" is given twice`);
    const type = ELEMENT_BY_V2[input.datatype as V2Datatype];
    if (type !== spec.type) throw invalid(`${field}.datatype: input "${spec.name}" is ${V2_BY_ELEMENT[spec.type]}, got ${input.datatype}`);
    checkShape(spec, input.shape, `${field}.shape`);
    if (model.batchable && input.shape[0] === 0) throw invalid(`${field}.shape[0]: expected at least one row, got 0`);
    const count = elementCount(input.shape, `${field}.shape`);
    const size = input.parameters?.binary_data_size;
    let tensor: TensorData;
    if (size !== undefined) {
      if (input.data !== undefined) throw invalid(`${field}: give either data or parameters.binary_data_size, not both`);
      if (offset + size > binary.length) {
        throw invalid(`${field}.parameters.binary_data_size is ${size} but only ${binary.length - offset} bytes of binary data remain after the JSON header`);
      }
      tensor = { type, dims: input.shape, data: fromBinary(type, count, binary.subarray(offset, offset + size), field) };
      offset += size;
    } else {
      if (input.data === undefined) throw invalid(`${field}.data is missing (or set parameters.binary_data_size for binary data)`);
      const values = flatten(input.data, `${field}.data`);
      if (values.length !== count) throw invalid(`${field}.data has ${values.length} elements but shape ${JSON.stringify(input.shape)} needs ${count}`);
      tensor = { type, dims: input.shape, data: fromJsonValues(type, values, `${field}.data`) };
    }
    inputs[spec.name] = tensor;
  });
  if (offset !== binary.length) {
    throw invalid(`the body has ${binary.length} bytes of binary data after the JSON header but inputs' binary_data_size add up to ${offset}`);
  }
  const missing = expected.filter((n) => !inputs[n]);
  if (missing.length > 0) throw invalid(`inputs: missing ${missing.map((n) => `"${n}"`).join(', ')}; model "${model.name}" needs ${expected.join(', ')}`);
  return inputs;
}

/** Which outputs to return and which of them as binary, checked before inference. */
function selectOutputs(model: Signature, request: InferRequest): SelectedOutput[] {
  const allBinary = request.parameters?.binary_data_output === true;
  if (!request.outputs || request.outputs.length === 0) return model.outputs.map((o) => ({ name: o.name, binary: allBinary }));
  return request.outputs.map((o, i) => {
    if (request.outputs!.findIndex((other) => other.name === o.name) !== i) throw invalid(`outputs[${i}].name: output "${o.name.slice(0, 64)}" is requested twice`);
    if (!model.outputs.some((s) => s.name === o.name)) {
      throw invalid(`outputs[${i}].name: model "${model.name}" has no output "${o.name.slice(0, 64)}"; its outputs are ${model.outputs.map((s) => s.name).join(', ')}`);
    }
    return { name: o.name, binary: o.parameters?.binary_data ?? allBinary };
  });
}

export interface EncodedResponse {
  body: Buffer | string;
  headers: Record<string, string>;
}

/** The V2 response: plain JSON, or a JSON header followed by binary output data when any output is binary. */
export function encodeV2Response(model: Signature, id: string | undefined, outputs: Tensors, selected: SelectedOutput[]): EncodedResponse {
  const chunks: Buffer[] = [];
  // Each output is JSON text; its data array is spliced in as text (see toJsonArrayText) rather than stringified.
  const described = selected.map(({ name, binary }) => {
    const t = outputs[name]!;
    const base = { name, datatype: V2_BY_ELEMENT[t.type], shape: t.dims };
    if (!binary) return `${JSON.stringify(base).slice(0, -1)},"data":${toJsonArrayText(t)}}`;
    const bytes = toBinary(t);
    chunks.push(bytes);
    return JSON.stringify({ ...base, parameters: { binary_data_size: bytes.length } });
  });
  const top = JSON.stringify({ model_name: model.name, model_version: String(model.version), ...(id !== undefined ? { id } : {}) });
  const header = `${top.slice(0, -1)},"outputs":[${described.join(',')}]}`;
  if (chunks.length === 0) return { body: header, headers: { 'content-type': 'application/json' } };
  const head = Buffer.from(header, 'utf8');
  return {
    body: Buffer.concat([head, ...chunks]),
    headers: { 'content-type': 'application/octet-stream', [HEADER_LENGTH]: String(head.length) },
  };
}
