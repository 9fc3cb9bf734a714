// Hostile JSON bodies on POST /v2/models/<name>[/versions/<v>]/infer, including absurd shapes that must be
// rejected before anything is allocated.
import assert from 'node:assert/strict';
import { describe, test } from '../helpers/node-test.ts';
import { assertRejected, assertStillServes, BODY_LIMIT, deepArray, deepObject, runCases, send, useService, type Case } from './helpers.ts';

const svc = useService();
const ROUTES = ['/v2/models/vec/infer', '/v2/models/vec/versions/1/infer'];

const input = (over: Record<string, unknown> = {}) => ({ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3], ...over });
const body = (inputs: unknown[], extra: Record<string, unknown> = {}) => JSON.stringify({ inputs, ...extra });

function perRoute(path: string): Case[] {
  const c = (name: string, text: string, says?: RegExp, status = 400, code: string = 'invalid_request'): Case => ({ name: `${path}: ${name}`, path, body: text, status, code, says });
  return [
    // malformed and truncated
    c('an empty body', '', /empty/),
    c('a lone brace', '{', /not valid JSON/, 400, 'invalid_json'),
    c('JSON cut off mid-tensor', '{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2', /not valid JSON/, 400, 'invalid_json'),
    c('trailing garbage', `${body([input()])}}}`, /not valid JSON/, 400, 'invalid_json'),
    c('a JSON array', '[]', /body/),
    c('a JSON string', '"infer"', /body/),
    c('null', 'null', /body/),
    // wrong or missing fields
    c('no inputs', '{}', /inputs/),
    c('inputs empty', body([]), /at least one input/),
    c('inputs an object', '{"inputs":{"x":[1,2,3]}}', /inputs/),
    c('an input without a name', body([input({ name: undefined })]), /name/),
    c('an input with an empty name', body([input({ name: '' })]), /name/),
    c('an input without a shape', body([input({ shape: undefined })]), /shape/),
    c('an input without a datatype', body([input({ datatype: undefined })]), /datatype/),
    c('an unknown datatype', body([input({ datatype: 'FP8' })]), /datatype/),
    c('a lower-case datatype', body([input({ datatype: 'fp32' })]), /datatype/),
    c('no data and no binary size', body([input({ data: undefined })]), /data/),
    c('an unknown input name', body([input({ name: 'y' })]), /no input "y"/),
    c('the same input twice', body([input(), input()]), /twice/),
    c('an id that is an object', body([input()], { id: { a: 1 } }), /id/),
    c('parameters that are a list', body([input()], { parameters: [1] }), /parameters/),
    c('a negative timeout', body([input()], { parameters: { timeout: -1 } }), /timeout/),
    c('an unknown requested output', body([input()], { outputs: [{ name: 'z' }] }), /no output "z"/),
    c('an output without a name', body([input()], { outputs: [{}] }), /outputs/),
    c('binary_data for an output given as a string', body([input()], { outputs: [{ name: 'y', parameters: { binary_data: 'yes' } }] }), /binary_data/),
    // wrong element types
    c('a datatype other than the model\'s', body([input({ datatype: 'FP64' })]), /FP32, got FP64/),
    c('strings for FP32', body([input({ data: ['1', '2', '3'] })]), /FP32/),
    c('booleans for FP32', body([input({ data: [true, false, true] })]), /FP32/),
    c('nulls for FP32', body([input({ data: [null, null, null] })]), /FP32/),
    c('data a single object', body([input({ data: { values: [1, 2, 3] } })]), /elements/),
    c('an element that is 5000 nested objects', `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[${deepObject(5000)},1,2]}]}`, /FP32/),
    // shapes disagreeing with the data or the model
    c('fewer elements than the shape needs', body([input({ data: [1, 2] })]), /needs 3/),
    c('more elements than the shape needs', body([input({ data: [1, 2, 3, 4] })]), /needs 3/),
    c('a shape the model does not take', body([input({ shape: [3, 1] })]), /expected shape/),
    c('a shape with a missing dimension', body([input({ shape: [3] })]), /expected shape/),
    c('a shape of zero rows', body([input({ shape: [0, 3], data: [] })]), /at least one row/),
    c('a negative dimension', body([input({ shape: [-1, 3] })]), /shape/),
    c('a fractional dimension', body([input({ shape: [1.5, 3] })]), /shape/),
    c('a dimension given as a string', body([input({ shape: ['1', 3] })]), /shape/),
    c('a dimension beyond 2^53', `{"inputs":[{"name":"x","shape":[9007199254740993,3],"datatype":"FP32","data":[1,2,3]}]}`, /shape/),
    c('33 dimensions', body([input({ shape: Array(33).fill(1) })]), /32 dimensions/),
    c('a shape that is not a list', body([input({ shape: 3 })]), /shape/),
    // hostile nesting
    c('data nested 100000 levels deep', `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":${deepArray(100_000)}}]}`, /nested deeper/),
    c('the shape nested 100000 levels deep', `{"inputs":[{"name":"x","shape":${deepArray(100_000)},"datatype":"FP32","data":[1,2,3]}]}`, /shape/),
    c('parameters nested 100000 levels deep', `{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}],"parameters":{"p":${deepArray(100_000)}},"outputs":"x"}`, /outputs/),
    // oversized
    c('a body over BODY_LIMIT', body([input({ shape: [BODY_LIMIT / 3, 3], data: Array(BODY_LIMIT).fill(1) })]), /limit/, 413, 'body_too_large'),
  ];
}

const cases: Case[] = ROUTES.flatMap(perRoute);
// Several inputs and element types.
const addMul = (inputs: unknown[]) => ({ path: '/v2/models/add_mul/infer', body: body(inputs) });
const a = { name: 'a', shape: [1, 2], datatype: 'FP32', data: [1, 2] };
const b = { name: 'b', shape: [1, 2], datatype: 'FP32', data: [3, 4] };
cases.push(
  { name: 'add_mul: a missing input', ...addMul([a]), status: 400, code: 'invalid_request', says: /missing "b"/ },
  { name: 'add_mul: inputs with different batch sizes', ...addMul([a, { ...b, shape: [2, 2], data: [1, 2, 3, 4] }]), status: 400, code: 'invalid_request', says: /batch/ },
  { name: 'fixed: a shape other than [2, 2]', path: '/v2/models/fixed/infer', body: body([input({ shape: [1, 2], data: [1, 2] })]), status: 400, code: 'invalid_request', says: /expected shape \[2, 2\]/ },
  { name: 'ints: 2^53 + 2 for INT64', path: '/v2/models/ints/infer', body: `{"inputs":[{"name":"x","shape":[1,3],"datatype":"INT64","data":[9007199254740994,1,2]}]}`, status: 400, code: 'invalid_request', says: /INT64/ },
  { name: 'u8: 300 for UINT8', path: '/v2/models/u8/infer', body: body([input({ datatype: 'UINT8', data: [300, 1, 2] })]), status: 400, code: 'invalid_request', says: /UINT8/ },
  { name: 'flags: 0 and 1 for BOOL', path: '/v2/models/flags/infer', body: body([input({ datatype: 'BOOL', data: [0, 1, 0] })]), status: 400, code: 'invalid_request', says: /BOOL/ },
  { name: 'words: numbers for BYTES', path: '/v2/models/words/infer', body: body([input({ datatype: 'BYTES', data: [1, 2, 3] })]), status: 400, code: 'invalid_request', says: /BYTES/ },
);

describe(`V2 infer rejects hostile JSON (${cases.length} cases)`, () => {
  runCases(svc, cases);
});

// Shapes that would need gigabytes if anything were allocated from them before checking.
const ABSURD: [string, string, unknown[]][] = [
  ['[1e9, 1e9] FP32', 'vec', [{ name: 'x', shape: [1e9, 1e9], datatype: 'FP32', data: [1] }]],
  ['[1e9, 3] FP32', 'vec', [{ name: 'x', shape: [1e9, 3], datatype: 'FP32', data: [1, 2, 3] }]],
  ['[8e7, 3] FP32 (under the element cap) with 3 values', 'vec', [{ name: 'x', shape: [8e7, 3], datatype: 'FP32', data: [1, 2, 3] }]],
  ['[8e7, 3] FP32 with a 12-byte binary part', 'vec', [{ name: 'x', shape: [8e7, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }]],
  ['[8e7, 3] BYTES with 3 values', 'words', [{ name: 'x', shape: [8e7, 3], datatype: 'BYTES', data: ['a', 'b', 'c'] }]],
  ['[1e15, 3] INT64', 'ints', [{ name: 'x', shape: [1e15, 3], datatype: 'INT64', data: [1, 2, 3] }]],
  ['[2, 2] for a fixed model given as [1e9, 1e9]', 'fixed', [{ name: 'x', shape: [1e9, 1e9], datatype: 'FP32', data: [1] }]],
];

describe(`absurd shapes are rejected fast, without memory growth (${ABSURD.length} cases, each sent 20 times)`, () => {
  for (const [name, model, inputs] of ABSURD) {
    test(`400 for ${name}`, async () => {
      const { url } = svc();
      const text = JSON.stringify({ inputs });
      const binary = (inputs[0] as any).parameters ? Buffer.alloc(12) : Buffer.alloc(0);
      const payload = Buffer.concat([Buffer.from(text), binary]);
      const headers: Record<string, string> = binary.length ? { 'inference-header-content-length': String(Buffer.byteLength(text)) } : {};
      const rssBefore = process.memoryUsage().rss;
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        const reply = await send(`${url}/v2/models/${model}/infer`, { method: 'POST', headers, body: payload });
        const ms = performance.now() - started;
        assertRejected(reply, 400, 'invalid_request');
        assert.match(reply.json.error, /shape|elements|bytes/);
        // Allocating first would show in the RSS check below; this bound only catches a reply that waits on
        // gigabytes of work, with room for a loaded 2-core machine.
        assert.ok(ms < 5000, `answered in ${ms.toFixed(0)} ms`);
      }
      const grewMb = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
      // One FP32 tensor of [8e7, 3] alone would be 915 MB.
      assert.ok(grewMb < 64, `RSS grew ${grewMb.toFixed(0)} MB`);
      await assertStillServes(url);
    });
  }
});
