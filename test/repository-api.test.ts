// The model repository extension's bodies and errors (Triton's shapes), without a server.
import assert from 'node:assert/strict';
import { describe, test } from './helpers/node-test.ts';
import { parseJsonBody } from '../src/codecs/json-body.ts';
import {
  decodeIndexRequest,
  decodeLoadRequest,
  decodeUnloadRequest,
  encodeIndex,
  RepositoryActionResponse,
  repositoryErrors,
  RepositoryIndexResponse,
} from '../src/codecs/repository-api.ts';
import { AppError, toHttpError } from '../src/errors.ts';

const body = (text: string) => parseJsonBody(new TextEncoder().encode(text));
const invalidRequest = (says: RegExp) => (e: Error) => e instanceof AppError && e.status === 400 && e.code === 'invalid_request' && says.test(e.message);

describe('index request', () => {
  test('an empty body, {} and {"ready": bool} are accepted', () => {
    assert.deepEqual(decodeIndexRequest(body('')), {});
    assert.deepEqual(decodeIndexRequest(body('{}')), {});
    assert.deepEqual(decodeIndexRequest(body('{"ready": true}')), { ready: true });
    assert.deepEqual(decodeIndexRequest(body('{"ready": false}')), { ready: false });
  });

  test('a bad ready or body is a 400 naming the field', () => {
    assert.throws(() => decodeIndexRequest(body('{"ready": "yes"}')), invalidRequest(/^ready: expected true or false/));
    assert.throws(() => decodeIndexRequest(body('[]')), invalidRequest(/^body: /));
    assert.throws(() => body('{"ready":'), (e: Error) => e instanceof AppError && e.code === 'invalid_json');
  });
});

describe('index response', () => {
  const entries = [
    { name: 'b', version: '1', state: 'READY' as const },
    { name: 'a', version: '1', state: 'UNAVAILABLE' as const, reason: 'unloaded' },
    { name: 'a', version: '10', state: 'READY' as const },
    { name: 'a', version: '2', state: 'LOADING' as const },
    { name: 'c' },
  ];

  test('sorted by name, then version from the highest; every entry has a reason; it fits the schema', () => {
    const index = encodeIndex(entries);
    assert.deepEqual(index, [
      { name: 'a', version: '10', state: 'READY', reason: '' },
      { name: 'a', version: '2', state: 'LOADING', reason: '' },
      { name: 'a', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
      { name: 'b', version: '1', state: 'READY', reason: '' },
      { name: 'c', reason: '' },
    ]);
    assert.equal(RepositoryIndexResponse.safeParse(index).success, true);
  });

  test('ready: true lists only READY versions', () => {
    assert.deepEqual(encodeIndex(entries, { ready: true }).map((e) => `${e.name}/${e.version}`), ['a/10', 'b/1']);
  });

  test('states are Triton\'s', () => {
    assert.equal(RepositoryIndexResponse.safeParse([{ name: 'a', version: '1', state: 'LOADED' }]).success, false);
    for (const state of ['READY', 'LOADING', 'UNLOADING', 'UNAVAILABLE']) assert.equal(RepositoryIndexResponse.safeParse([{ name: 'a', version: '1', state }]).success, true);
  });
});

describe('load request', () => {
  test('an empty body, {} and other parameters are accepted', () => {
    assert.deepEqual(decodeLoadRequest(body('')), {});
    assert.deepEqual(decodeLoadRequest(body('{"parameters": {}}')), { parameters: {} });
    assert.deepEqual(decodeLoadRequest(body('{"parameters": {"priority": 1}}')), { parameters: { priority: 1 } });
  });

  test('a configuration or files sent with the load are refused: the repository is the one source of models', () => {
    assert.throws(() => decodeLoadRequest(body('{"parameters": {"config": "{}"}}')), invalidRequest(/^parameters\.config: models are loaded from the model repository only; put config\.json/));
    assert.throws(() => decodeLoadRequest(body('{"parameters": {"file:1/model.onnx": "AAAA"}}')), invalidRequest(/^parameters\.file:1\/model\.onnx: models are loaded from the model repository only/));
  });

  test('parameters must be an object', () => {
    assert.throws(() => decodeLoadRequest(body('{"parameters": [1]}')), invalidRequest(/^parameters: /));
  });
});

describe('unload request', () => {
  test('unload_dependents is optional and boolean', () => {
    assert.deepEqual(decodeUnloadRequest(body('')), {});
    assert.deepEqual(decodeUnloadRequest(body('{"parameters": {"unload_dependents": true}}')), { parameters: { unload_dependents: true } });
    assert.throws(() => decodeUnloadRequest(body('{"parameters": {"unload_dependents": 1}}')), invalidRequest(/^parameters\.unload_dependents: expected true or false/));
  });
});

describe('load and unload response', () => {
  test('name, state and the versions serving after the call', () => {
    assert.equal(RepositoryActionResponse.safeParse({ name: 'iris', state: 'READY', versions: ['2'] }).success, true);
    assert.equal(RepositoryActionResponse.safeParse({ name: 'iris', state: 'UNAVAILABLE', versions: [] }).success, true);
    assert.equal(RepositoryActionResponse.safeParse({ name: 'iris', versions: [2] }).success, false);
  });
});

describe('errors', () => {
  const reply = (e: AppError) => toHttpError(e);

  test('load or unload outside explicit mode: 409 model_control_disabled, saying what to do', () => {
    const none = reply(repositoryErrors.controlDisabled('none', 'load'));
    assert.equal(none.status, 409);
    assert.equal(none.body.code, 'model_control_disabled');
    assert.match(none.body.error, /^cannot load models through the API: models are loaded once at start \(MODEL_CONTROL_MODE=none\); set MODEL_CONTROL_MODE=explicit/);
    const poll = reply(repositoryErrors.controlDisabled('poll', 'unload'));
    assert.match(poll.body.error, /^cannot unload models through the API: the repository poller decides .*MODEL_CONTROL_MODE=poll/);
  });

  test('the other codes and statuses', () => {
    const cases: Array<[AppError, number, string, RegExp]> = [
      [repositoryErrors.filesChanging('iris', 2), 409, 'model_files_changing', /iris" version 2 is still being written/],
      [repositoryErrors.noVersion('iris', 'no version directory'), 409, 'model_version_unavailable', /no version to load: no version directory/],
      [repositoryErrors.loadFailed('iris', 2, 'protobuf parsing failed'), 422, 'model_load_failed', /version 2 failed to load: protobuf parsing failed; the versions that served before still serve/],
      [repositoryErrors.noMemory('iris', 2, 300 * 2 ** 20, 100 * 2 ** 20 + 1), 409, 'model_memory_exhausted', /about 300 MiB .* 101 MiB are free under MEMORY_LIMIT/],
    ];
    for (const [error, status, code, says] of cases) {
      const r = reply(error);
      assert.equal(r.status, status, code);
      assert.equal(r.body.code, code);
      assert.match(r.body.error, says);
    }
  });

  test('no repository error is a 5xx (an admin mistake must not burn the availability SLO)', () => {
    for (const e of [repositoryErrors.controlDisabled('none', 'load'), repositoryErrors.filesChanging('a', 1), repositoryErrors.noVersion('a', 'x'), repositoryErrors.loadFailed('a', 1, 'x'), repositoryErrors.noMemory('a', 1, 1, 1)]) {
      assert.ok(e.status >= 400 && e.status < 500, e.code);
    }
  });
});
