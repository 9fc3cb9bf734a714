// Hostile input on the row-format routes: POST /predict, /v1/models/<name>:predict, /v1/models/<name>/versions/<v>:predict.
import { gzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { describe, test } from '../helpers/node-test.ts';
import { BODY_LIMIT, deepArray, deepObject, runCases, useService, type Case } from './helpers.ts';

const svc = useService();
const JSON_CT = { 'content-type': 'application/json' };
const ROUTES = ['/predict', '/v1/models/vec:predict', '/v1/models/vec/versions/1:predict'];

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : Buffer.from(p))));
const INVALID_UTF8_IN_STRING = bytes('{"instances":[["', [0xff, 0xfe], '",2,3]]}');
const INVALID_UTF8_TOKEN = bytes('{"instances":[[1,2,3]]', [0xc3, 0x28], '}');

test('the invalid UTF-8 bodies really are invalid UTF-8', () => {
  for (const body of [INVALID_UTF8_IN_STRING, INVALID_UTF8_TOKEN]) assert.throws(() => new TextDecoder('utf-8', { fatal: true }).decode(body), TypeError);
});

/** Cases that every row route must reject the same way. */
function perRoute(path: string): Case[] {
  const post = (name: string, body: string | Uint8Array, status: number, code: string, says?: RegExp, headers: Record<string, string> = JSON_CT): Case => ({ name: `${path}: ${name}`, path, headers, body, status, code, says });
  return [
    // malformed and truncated JSON
    post('empty body', '', 400, 'invalid_request', /instances/),
    post('a lone brace', '{', 400, 'invalid_json'),
    post('JSON cut off mid-array', '{"instances":[[1,2', 400, 'invalid_json'),
    post('JSON cut off mid-string', '{"instances":[["ab', 400, 'invalid_json'),
    post('trailing garbage', '{"instances":[[1,2,3]]}xyz', 400, 'invalid_json'),
    post('a bare number', '123', 400, 'invalid_json'),
    post('null', 'null', 400, 'invalid_json'),
    post('NaN literal', '{"instances":[[NaN,1,2]]}', 400, 'invalid_json'),
    // Real invalid UTF-8 on the wire (bytes, not a JS string, which fetch would encode as valid UTF-8).
    post('invalid UTF-8 inside a string', INVALID_UTF8_IN_STRING, 400, 'invalid_request', /FP32/),
    post('invalid UTF-8 between tokens', INVALID_UTF8_TOKEN, 400, 'invalid_json', /not valid JSON/),
    // wrong content type
    post('text/plain', '{"instances":[[1,2,3]]}', 415, 'unsupported_media_type', /content-type/, { 'content-type': 'text/plain' }),
    post('form encoding', 'instances=1', 415, 'unsupported_media_type', undefined, { 'content-type': 'application/x-www-form-urlencoded' }),
    post('multipart', '--x\r\n\r\n--x--', 415, 'unsupported_media_type', undefined, { 'content-type': 'multipart/form-data; boundary=x' }),
    post('octet-stream', '{"instances":[[1,2,3]]}', 415, 'unsupported_media_type', undefined, { 'content-type': 'application/octet-stream' }),
    post('an unsupported charset', '{"instances":[[1,2,3]]}', 415, 'unsupported_encoding', undefined, { 'content-type': 'application/json; charset=latin1' }),
    post('an unknown content-encoding', '{"instances":[[1,2,3]]}', 415, 'unsupported_encoding', undefined, { ...JSON_CT, 'content-encoding': 'compress' }),
    post('gzip that is not gzip', 'plain text', 400, 'invalid_body', /not valid gzip data/, { ...JSON_CT, 'content-encoding': 'gzip' }),
    // wrong or missing fields
    post('an array body', '[[1,2,3]]', 400, 'invalid_request', /object/),
    post('no instances', '{"inputs":[[1,2,3]]}', 400, 'invalid_request', /instances/),
    post('instances misspelled', '{"instancez":[[1,2,3]]}', 400, 'invalid_request', /instances/),
    post('instances an object', '{"instances":{"x":[1,2,3]}}', 400, 'invalid_request', /instances/),
    post('instances a string', '{"instances":"1,2,3"}', 400, 'invalid_request', /instances/),
    post('instances empty', '{"instances":[]}', 400, 'invalid_request', /at least one/),
    post('parameters a string', '{"instances":[[1,2,3]],"parameters":"fast"}', 400, 'invalid_request', /parameters/),
    post('a negative timeout', '{"instances":[[1,2,3]],"parameters":{"timeout_ms":-5}}', 400, 'invalid_request', /timeout_ms/),
    post('a fractional timeout', '{"instances":[[1,2,3]],"parameters":{"timeout_ms":1.5}}', 400, 'invalid_request', /timeout_ms/),
    post('an absurd timeout', '{"instances":[[1,2,3]],"parameters":{"timeout_ms":1e300}}', 400, 'invalid_request', /timeout_ms/),
    // wrong element types
    post('strings for FP32', '{"instances":[["1","2","3"]]}', 400, 'invalid_request', /FP32/),
    post('booleans for FP32', '{"instances":[[true,2,3]]}', 400, 'invalid_request', /FP32/),
    post('null elements', '{"instances":[[null,2,3]]}', 400, 'invalid_request', /FP32/),
    post('objects as elements', '{"instances":[[{"v":1},2,3]]}', 400, 'invalid_request', /FP32/),
    // shapes that disagree with the model or are ragged
    post('rows too short', '{"instances":[[1,2]]}', 400, 'invalid_request', /shape/),
    post('rows too long', '{"instances":[[1,2,3,4]]}', 400, 'invalid_request', /shape/),
    post('scalar instances', '{"instances":[1,2,3]}', 400, 'invalid_request', /shape/),
    post('a ragged second row', '{"instances":[[1,2,3],[1,2]]}', 400, 'invalid_request', /ragged/),
    post('a row nested deeper than its siblings', '{"instances":[[1,2,3],[[1],2,3]]}', 400, 'invalid_request', /ragged/),
    post('an extra dimension', '{"instances":[[[1,2,3]]]}', 400, 'invalid_request', /shape/),
    // hostile nesting
    post('100000 levels of arrays', `{"instances":${deepArray(100_000)}}`, 400, 'invalid_request', /nested deeper/),
    post('33 levels of arrays', `{"instances":${deepArray(33)}}`, 400, 'invalid_request', /nested deeper/),
    post('an element that is 5000 nested objects', `{"instances":[[${deepObject(5000)},1,2]]}`, 400, 'invalid_request', /FP32/),
    post('a ragged row that is 5000 nested objects', `{"instances":[[1,2,3],${deepObject(5000)}]}`, 400, 'invalid_request', /ragged/),
  ];
}

const cases: Case[] = ROUTES.flatMap(perRoute);

// Multi-input models take instances keyed by input name.
cases.push(
  ...[
    ['an instance that is an array', '{"instances":[[1,2]]}', /object keyed by input name/],
    ['an instance that is null', '{"instances":[null]}', /object keyed by input name/],
    ['an unknown input', '{"instances":[{"a":[1,2],"b":[1,2],"c":[1,2]}]}', /unknown input "c"/],
    ['an input named __proto__', '{"instances":[{"a":[1,2],"b":[1,2],"__proto__":{"a":1}}]}', /unknown input "__proto__"/],
    ['a missing input', '{"instances":[{"a":[1,2]}]}', /missing input "b"/],
    ['inputs of different widths', '{"instances":[{"a":[1,2],"b":[1,2,3]}]}', /shape/],
    ['an input element that is 5000 nested objects', `{"instances":[{"a":[${deepObject(5000)},1],"b":[1,2]}]}`, /FP32/],
  ].map(([name, body, says]) => ({
    name: `/v1/models/add_mul:predict: ${name}`,
    path: '/v1/models/add_mul:predict',
    headers: JSON_CT,
    body: body as string,
    status: 400,
    code: 'invalid_request',
    says: says as RegExp,
  })),
  // Element ranges of integer models.
  ...[
    ['INT64 beyond 2^53', '/v1/models/ints:predict', '{"instances":[[9007199254740993,1,2]]}', /INT64/],
    ['UINT8 of 256', '/v1/models/u8:predict', '{"instances":[[256,1,2]]}', /UINT8/],
    ['UINT8 of -1', '/v1/models/u8:predict', '{"instances":[[-1,1,2]]}', /UINT8/],
    ['UINT8 of 1.5', '/v1/models/u8:predict', '{"instances":[[1.5,1,2]]}', /UINT8/],
    ['numbers for BOOL', '/v1/models/flags:predict', '{"instances":[[1,0,1]]}', /BOOL/],
    ['numbers for BYTES', '/v1/models/words:predict', '{"instances":[[1,2,3]]}', /BYTES/],
    ['a non-batchable model given 3 rows', '/v1/models/fixed:predict', '{"instances":[[1,2],[3,4],[5,6]]}', /shape/],
  ].map(([name, path, body, says]) => ({ name: `${path}: ${name}`, path: path as string, headers: JSON_CT, body: body as string, status: 400, code: 'invalid_request', says: says as RegExp })),
);

// Oversized bodies, plain and as a gzip bomb (small on the wire, 10 MB once inflated).
const oversized = JSON.stringify({ instances: Array.from({ length: Math.ceil(BODY_LIMIT / 6) }, () => [1, 2, 3]) });
const bomb = gzipSync(Buffer.from(`{"instances":[[1,2,3]],"pad":"${'a'.repeat(10_000_000)}"}`));
for (const path of ROUTES) {
  cases.push({ name: `${path}: a body over BODY_LIMIT`, path, headers: JSON_CT, body: oversized, status: 413, code: 'body_too_large', says: /limit/ });
  cases.push({ name: `${path}: a gzip bomb of ${bomb.length} bytes`, path, headers: { ...JSON_CT, 'content-encoding': 'gzip' }, body: bomb, status: 413, code: 'body_too_large' });
}

describe(`row routes reject hostile input (${cases.length} cases)`, () => {
  runCases(svc, cases);
});
