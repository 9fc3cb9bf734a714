import { MLP_SIZES } from './models.ts';

export interface Payload {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Rows of model input in one request (0 for routes that run no model). */
  rows: number;
}

/** Deterministic float32 inputs in [-1, 1). */
function row(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

export const hello: Payload = { method: 'GET', path: '/hello', headers: {}, rows: 0 };
export const nodeHello: Payload = { method: 'GET', path: '/node-hello', headers: {}, rows: 0 };

const irisBody = Buffer.from(JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }));
export const irisPredict: Payload = { method: 'POST', path: '/predict', headers: { 'content-type': 'application/json' }, body: irisBody, rows: 1 };
/** The iris body to a bare node:http route that reads it and answers (bench/hello.ts). */
export const nodeRead: Payload = { method: 'POST', path: '/node-read', headers: { 'content-type': 'application/json' }, body: irisBody, rows: 0 };
export const helloJson: Payload = { method: 'POST', path: '/hello-json', headers: { 'content-type': 'application/json' }, body: irisBody, rows: 0 };

/**
 * One MLP row as V2 JSON. Values are float32 numbers printed as JavaScript prints them
 * (e.g. -0.7241235971450806), which is what a client serialising float32 arrays sends.
 */
export function mlpJson(rows = 1): Payload {
  const data = Array.from(row(MLP_SIZES[0] * rows, 7));
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [rows, MLP_SIZES[0]], datatype: 'FP32', data }] });
  return { method: 'POST', path: '/v2/models/mlp/infer', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), rows };
}

/** MLP rows in the row format, POST /v1/models/mlp:predict {"instances": [[...1024 floats]]}, printed like mlpJson(). */
export function mlpRows(rows = 1): Payload {
  const data = row(MLP_SIZES[0] * rows, 7);
  const instances = Array.from({ length: rows }, (_, r) => Array.from(data.subarray(r * MLP_SIZES[0], (r + 1) * MLP_SIZES[0])));
  return { method: 'POST', path: '/v1/models/mlp:predict', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ instances })), rows };
}

/** One MLP row with Triton's binary tensor data extension, input and output binary. */
export function mlpBinary(rows = 1): Payload {
  const data = row(MLP_SIZES[0] * rows, 7);
  const header = Buffer.from(
    JSON.stringify({
      inputs: [{ name: 'input', shape: [rows, MLP_SIZES[0]], datatype: 'FP32', parameters: { binary_data_size: data.byteLength } }],
      parameters: { binary_data_output: true },
    }),
  );
  return {
    method: 'POST',
    path: '/v2/models/mlp/infer',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)]),
    rows,
  };
}

export { row as inputRow };
