// Unknown models and versions, names with path segments or thousands of characters, on every named route.
// Names are matched against what was loaded: nothing a client puts in a name can reach the filesystem.
import { describe } from '../helpers/node-test.ts';
import { runCases, useService, type Case } from './helpers.ts';

const svc = useService();
const rowBody = '{"instances":[[1,2,3]]}';
const v2Body = JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] });

/** Every route that names a model, with the name (and version) spliced in raw. */
const ROUTES: { label: string; method: string; path: (name: string, version?: string) => string; body?: string; headers?: Record<string, string> }[] = [
  { label: 'GET metadata', method: 'GET', path: (n, v) => `/v2/models/${n}${v ? `/versions/${v}` : ''}` },
  { label: 'GET ready', method: 'GET', path: (n, v) => `/v2/models/${n}${v ? `/versions/${v}` : ''}/ready` },
  { label: 'POST infer', method: 'POST', path: (n, v) => `/v2/models/${n}${v ? `/versions/${v}` : ''}/infer`, body: v2Body },
  { label: 'POST v1 predict', method: 'POST', path: (n, v) => `/v1/models/${n}${v ? `/versions/${v}` : ''}:predict`, body: rowBody, headers: { 'content-type': 'application/json' } },
];

const BAD_NAMES: [string, string][] = [
  ['an unknown model', 'nope'],
  ['a name that differs only in case', 'VEC'],
  ['an encoded ../ path', '..%2f..%2fetc%2fpasswd'],
  ['an encoded ../ in lower-case dots', '%2e%2e%2f%2e%2e%2fvec'],
  ['double-encoded ../', '%252e%252e%252fvec'],
  ['an encoded backslash path', '..%5c..%5cvec'],
  ['an encoded absolute path', '%2fetc%2fpasswd'],
  ['an encoded NUL byte', 'vec%00'],
  ['a name of three dots', '...'],
  ['__proto__', '__proto__'],
  ['constructor', 'constructor'],
  ['a name of 5000 characters', 'v'.repeat(5000)],
  ['a name of 5000 encoded ../', '..%2f'.repeat(1000)],
  ['unicode', '%F0%9F%A4%96'],
];

const BAD_VERSIONS: [string, string][] = [
  ['a version that does not exist', '3'],
  ['version 0', '0'],
  ['a negative version', '-1'],
  ['a version with a leading zero', '01'],
  ['a version beyond 2^53', '99999999999999999999'],
  ['a fractional version', '1.5'],
  ['a version in exponent notation', '1e0'],
  ['a version that is a word', 'latest'],
  ['an encoded ../ version', '..%2f..%2f1'],
  ['a version of 5000 characters', '1'.repeat(5000)],
];

const cases: Case[] = [];
for (const route of ROUTES) {
  for (const [what, name] of BAD_NAMES) {
    cases.push({ name: `${route.label} with ${what}`, method: route.method, path: route.path(name), body: route.body, headers: route.headers, status: 404, code: 'model_not_found', says: /unknown model/ });
  }
  for (const [what, version] of BAD_VERSIONS) {
    cases.push({ name: `${route.label} of vec with ${what}`, method: route.method, path: route.path('vec', version), body: route.body, headers: route.headers, status: 404, code: 'version_not_found', says: /no version/ });
  }
  // A name that is not valid percent-encoding cannot be decoded at all.
  cases.push({ name: `${route.label} with malformed percent-encoding`, method: route.method, path: route.path('%E0%A4%A'), body: route.body, headers: route.headers, status: 400, code: 'invalid_request', says: /not valid percent-encoding/ });
}
// Unknown routes around the model routes answer JSON 404s too.
for (const [what, path] of <[string, string][]>[
  ['a model file path', '/models/vec/1/model.onnx'],
  ['a repository config path', '/models/vec/config.json'],
  ['an unknown V2 sub-route', '/v2/models/vec/files'],
  ['a v1 route without :predict', '/v1/models/vec'],
  ['a v1 route with another verb', '/v1/models/vec:classify'],
]) {
  cases.push({ name: `GET ${what}`, method: 'GET', path, status: 404, code: 'route_not_found' });
}
cases.push({ name: 'POST a v1 route with another verb', path: '/v1/models/vec:classify', headers: { 'content-type': 'application/json' }, body: rowBody, status: 404, code: 'route_not_found' });

describe(`model names and versions never resolve to anything but a loaded model (${cases.length} cases)`, () => {
  runCases(svc, cases);
});
