import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, test } from './helpers/node-test.ts';
import { fileURLToPath } from 'node:url';
import { loadIris, splitIris } from '../scripts/train-iris.ts';
import { createLogger } from '../src/logger.ts';
import { createMetrics } from '../src/metrics.ts';
import { MAX_TRACKED_FEATURES, readModelConfig } from '../src/models/config.ts';
import { ModelRepository, RepositoryError } from '../src/models/repository.ts';
import { testConfig } from './helpers/config.ts';
import { makeRepository, type RepositoryModel } from './helpers/repository.ts';
import { postJson, startService } from './helpers/service.ts';

const IRIS_DIR = fileURLToPath(new URL('../models/iris/', import.meta.url));
const irisConfig = JSON.parse(await readFile(join(IRIS_DIR, 'config.json'), 'utf8'));
const irisModel = new Uint8Array(await readFile(join(IRIS_DIR, '1/model.onnx')));
const FEATURES: string[] = irisConfig.reference.features.map((f: { name: string }) => f.name);
const LABELS: string[] = irisConfig.labels;

/** Parses a Prometheus text scrape into "name{a="x",b="y"}" -> value (labels in exposition order). */
function parseScrape(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    series.set(line.slice(0, at), Number(line.slice(at + 1)));
  }
  return series;
}

async function scrape(metricsUrl: string) {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const series = parseScrape(text);
  const get = (name: string, labels: Record<string, string>) => {
    const key = `${name}{${Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(',')}}`;
    const value = series.get(key);
    assert.ok(value !== undefined, `scrape has ${key}`);
    return value;
  };
  return { text, series, get };
}
type Scrape = Awaited<ReturnType<typeof scrape>>;

/** Serving mean and population variance of one feature between two scrapes, as the recording rules compute them. */
function servingStats(before: Scrape, after: Scrape, model: string, feature: string) {
  const l = { model, version: '1', feature };
  const d = (name: string, labels: Record<string, string>) => after.get(name, labels) - before.get(name, labels);
  const count = d('meshserve_feature_observations_total', l);
  const sum = d('meshserve_feature_sum_total', { ...l, sign: 'positive' }) - d('meshserve_feature_sum_total', { ...l, sign: 'negative' });
  const squares = d('meshserve_feature_squares_sum_total', l);
  const mean = sum / count;
  return { count, mean, variance: squares / count - mean * mean };
}

const close = (actual: number, expected: number, what: string, tolerance = 1e-4) =>
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${actual} vs ${expected}`);

const argmax = (row: number[]) => row.reduce((best, v, i) => (v > row[best]! ? i : best), 0);

describe('business metrics on the iris model', () => {
  test('rows far from the training data move the drift series; the label counter matches the predictions returned, on every route', async (t) => {
    const svc = await startService({ iris: { config: irisConfig, versions: { 1: irisModel } } });
    t.after(() => svc.close());
    const s0 = await scrape(svc.metricsUrl);
    for (const f of irisConfig.reference.features) {
      assert.equal(s0.get('meshserve_feature_reference_mean', { model: 'iris', version: '1', feature: f.name }), f.mean);
      assert.equal(s0.get('meshserve_feature_reference_stddev', { model: 'iris', version: '1', feature: f.name }), f.std);
      assert.equal(s0.get('meshserve_feature_observations_total', { model: 'iris', version: '1', feature: f.name }), 0);
    }
    for (const label of LABELS) {
      assert.equal(s0.get('meshserve_predictions_total', { model: 'iris', version: '1', label }), 0);
      close(s0.get('meshserve_prediction_reference_ratio', { model: 'iris', version: '1', label }), 1 / 3, `prior of ${label}`, 1e-5);
    }

    // The held-out rows, as the training data looks: serving means within one reference std.
    const { features } = loadIris();
    const heldOut = splitIris(loadIris().labels).heldOut.map((i) => features[i]!);
    assert.equal((await postJson(`${svc.url}/predict`, { instances: heldOut })).status, 200);
    const s1 = await scrape(svc.metricsUrl);
    irisConfig.reference.features.forEach((f: { name: string; mean: number; std: number }, j: number) => {
      const s = servingStats(s0, s1, 'iris', f.name);
      assert.equal(s.count, heldOut.length);
      close(s.mean, heldOut.reduce((a, r) => a + r[j]!, 0) / heldOut.length, `mean of ${f.name}`);
      assert.ok(Math.abs(s.mean - f.mean) / f.std < 1, `${f.name} in distribution: z = ${(s.mean - f.mean) / f.std}`);
    });

    // The same rows in millimetres (a client's unit mistake), sent through all four inference paths.
    const drifted = heldOut.map((r) => r.map((v) => Math.fround(v * 10)));
    const parts = [drifted.slice(0, 10), drifted.slice(10, 18), drifted.slice(18, 25), drifted.slice(25)];
    const predicted: string[] = [];
    const row1 = await postJson(`${svc.url}/predict`, { instances: parts[0] });
    const row2 = await postJson(`${svc.url}/v1/models/iris:predict`, { instances: parts[1] });
    for (const r of [row1, row2]) {
      assert.equal(r.status, 200);
      predicted.push(...r.json.predictions.map((p: { label: string }) => p.label));
    }
    const v2 = await postJson(`${svc.url}/v2/models/iris/infer`, { inputs: [{ name: 'input', shape: [parts[2]!.length, 4], datatype: 'FP32', data: parts[2] }] });
    assert.equal(v2.status, 200);
    const v2Scores: number[] = v2.json.outputs[0].data;
    for (let i = 0; i < parts[2]!.length; i++) predicted.push(LABELS[argmax(v2Scores.slice(3 * i, 3 * i + 3))]!);
    const bytes = new Uint8Array(Float32Array.from(parts[3]!.flat()).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [parts[3]!.length, 4], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }], outputs: [{ name: 'probabilities', parameters: { binary_data: true } }] }));
    const res = await fetch(`${svc.url}/v2/models/iris/infer`, { method: 'POST', body: new Uint8Array(Buffer.concat([header, bytes])), headers: { 'inference-header-content-length': String(header.length) } });
    assert.equal(res.status, 200);
    const body = Buffer.from(await res.arrayBuffer());
    const start = Number(res.headers.get('inference-header-content-length'));
    const binaryScores = Array.from(new Float32Array(body.buffer.slice(body.byteOffset + start, body.byteOffset + body.length)));
    for (let i = 0; i < parts[3]!.length; i++) predicted.push(LABELS[argmax(binaryScores.slice(3 * i, 3 * i + 3))]!);
    assert.equal(predicted.length, drifted.length);

    const s2 = await scrape(svc.metricsUrl);
    irisConfig.reference.features.forEach((f: { name: string; mean: number; std: number }, j: number) => {
      const s = servingStats(s1, s2, 'iris', f.name);
      assert.equal(s.count, drifted.length, `${f.name} counted once per row`);
      const mean = drifted.reduce((a, r) => a + r[j]!, 0) / drifted.length;
      close(s.mean, mean, `mean of ${f.name}`);
      close(s.variance, drifted.reduce((a, r) => a + (r[j]! - mean) ** 2, 0) / drifted.length, `variance of ${f.name}`, 1e-3);
      const z = (s.mean - f.mean) / f.std;
      assert.ok(z > 3, `${f.name} drifted: serving mean ${s.mean} is ${z.toFixed(1)} reference stds from ${f.mean}`);
    });
    for (const label of LABELS) {
      const counted = s2.get('meshserve_predictions_total', { model: 'iris', version: '1', label }) - s1.get('meshserve_predictions_total', { model: 'iris', version: '1', label });
      assert.equal(counted, predicted.filter((p) => p === label).length, `predictions of ${label}`);
    }
    // Every prediction so far is counted once: 30 held-out rows and 30 drifted ones.
    assert.equal(LABELS.reduce((a, label) => a + s2.get('meshserve_predictions_total', { model: 'iris', version: '1', label }), 0), 60);

    const promtool = spawnSync('promtool', ['--version'], { encoding: 'utf8', timeout: 30_000 });
    if (promtool.error) {
      if (process.env.MESHSERVE_SKIP_PROMTOOL === '1') return t.skip('promtool not installed');
      assert.fail('promtool is missing: install Debian package "prometheus", or set MESHSERVE_SKIP_PROMTOOL=1');
    }
    const dir = await mkdtemp(join(tmpdir(), 'meshserve-business-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'scrape.txt'), s2.text);
    const check = spawnSync('sh', ['-c', `promtool check metrics < ${join(dir, 'scrape.txt')}`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(check.status, 0, `promtool check metrics:\n${check.stdout}${check.stderr}`);
  });

  test('negative values go to the negative sum, NaN is not counted, an explicit column index is honoured; a model without labels or reference exports no business series', async (t) => {
    const reference = { features: [{ name: 'second', index: 1, mean: 0, std: 2 }] };
    const svc = await startService({ tracked: { config: { reference }, versions: { 1: 'add_one.onnx' } }, plain: { versions: { 1: 'add_one.onnx' } } });
    t.after(() => svc.close());
    const s0 = await scrape(svc.metricsUrl);
    const bytes = new Uint8Array(Float32Array.from([100, -1.5, 100, 2, 100, -4, 100, Number.NaN]).buffer);
    const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [4, 2], datatype: 'FP32', parameters: { binary_data_size: bytes.length } }] }));
    const res = await fetch(`${svc.url}/v2/models/tracked/infer`, { method: 'POST', body: new Uint8Array(Buffer.concat([header, bytes])), headers: { 'inference-header-content-length': String(header.length) } });
    assert.equal(res.status, 200);
    assert.equal((await postJson(`${svc.url}/v1/models/plain:predict`, { instances: [[1, 2]] })).status, 200);
    const s1 = await scrape(svc.metricsUrl);
    const l = { model: 'tracked', version: '1', feature: 'second' };
    const d = (name: string, labels: Record<string, string>) => s1.get(name, labels) - s0.get(name, labels);
    assert.equal(d('meshserve_feature_observations_total', l), 3);
    close(d('meshserve_feature_sum_total', { ...l, sign: 'positive' }), 2, 'positive sum');
    close(d('meshserve_feature_sum_total', { ...l, sign: 'negative' }), 5.5, 'negative sum');
    close(d('meshserve_feature_squares_sum_total', l), 2.25 + 4 + 16, 'sum of squares');
    assert.equal(s1.get('meshserve_feature_reference_stddev', l), 2);
    for (const name of ['meshserve_predictions_total', 'meshserve_prediction_reference_ratio']) {
      assert.ok(![...s1.series.keys()].some((k) => k.startsWith(`${name}{`)), `${name}: no series without labels`);
    }
    assert.ok(![...s1.series.keys()].some((k) => k.includes('model="plain"') && k.startsWith('meshserve_feature_')), 'no feature series for a model without reference');
  });
});

describe('config.json reference', () => {
  async function configFile(t: { after(fn: () => Promise<void>): void }, config: object) {
    const dir = await mkdtemp(join(tmpdir(), 'meshserve-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'config.json');
    await writeFile(file, JSON.stringify(config));
    return file;
  }
  const feature = (i: number) => ({ name: `f${i}`, index: i, mean: 0, std: 1 });

  test(`tracks at most ${MAX_TRACKED_FEATURES} features: one more is refused naming the file`, async (t) => {
    const ok = await configFile(t, { reference: { features: Array.from({ length: MAX_TRACKED_FEATURES }, (_, i) => feature(i)) } });
    assert.equal((await readModelConfig(ok)).reference?.features?.length, MAX_TRACKED_FEATURES);
    const tooMany = await configFile(t, { reference: { features: Array.from({ length: MAX_TRACKED_FEATURES + 1 }, (_, i) => feature(i)) } });
    await assert.rejects(readModelConfig(tooMany), (e: Error) => {
      assert.ok(e instanceof RepositoryError);
      assert.ok(e.message.startsWith(`${tooMany}: reference.features: at most ${MAX_TRACKED_FEATURES} features are tracked`), e.message);
      return true;
    });
  });

  const invalid: Array<[string, object, RegExp]> = [
    ['a zero std', { reference: { features: [{ name: 'a', mean: 0, std: 0 }] } }, /reference\.features\.0\.std/],
    ['a feature listed twice', { reference: { features: [feature(0), { ...feature(1), name: 'f0' }] } }, /reference\.features\.1\.name: feature "f0" is listed twice/],
    ['a column tracked twice', { reference: { features: [feature(3), { name: 'g', mean: 0, std: 1 }, { name: 'h', index: 3, mean: 0, std: 1 }] } }, /reference\.features\.2\.index: column 3 is tracked twice/],
    ['priors without labels', { reference: { priors: { a: 1 } } }, /reference\.priors: priors need "labels"/],
    ['a prior of an unknown label', { labels: ['a', 'b'], reference: { priors: { a: 0.5, c: 0.5 } } }, /reference\.priors\.c: "c" is not one of labels \(a, b\)/],
    ['priors not summing to 1', { labels: ['a', 'b'], reference: { priors: { a: 0.5, b: 0.2 } } }, /reference\.priors: priors sum to 0\.7, not 1/],
    ['an unknown key', { reference: { features: [feature(0)], mean: 1 } }, /reference: .*mean/],
  ];
  for (const [what, config, message] of invalid) {
    test(`refuses ${what}`, async (t) => {
      const file = await configFile(t, config);
      await assert.rejects(readModelConfig(file), (e: Error) => e instanceof RepositoryError && e.message.startsWith(file) && message.test(e.message));
    });
  }

  const quiet = createLogger({ LOG_LEVEL: 'silent', LOG_PRETTY: false }, new Writable({ write: (_c, _e, cb) => cb() }));
  async function loadFails(t: { after(fn: () => Promise<void>): void }, layout: Record<string, RepositoryModel>, message: RegExp) {
    const dir = await makeRepository(layout);
    const repository = new ModelRepository({ config: testConfig({ MODEL_REPOSITORY: dir.dir }), metrics: createMetrics({ defaultMetrics: false }), logger: quiet });
    t.after(async () => {
      await repository.close();
      await dir.cleanup();
    });
    await assert.rejects(repository.load(), (e: Error) => e instanceof RepositoryError && message.test(e.message));
  }

  test('features that do not fit the model stop loading with a message naming the model file', async (t) => {
    await loadFails(t, { m: { config: { reference: { features: [{ name: 'z', index: 2, mean: 0, std: 1 }] } }, versions: { 1: 'add_one.onnx' } } }, /m\/1\/model\.onnx cannot be served: config\.json reference: feature "z" is column 2, but input "x" has 2 columns/);
    await loadFails(t, { m: { config: { reference: { features: [feature(0)] } }, versions: { 1: 'add_mul.onnx' } } }, /the model has 2 inputs \(a, b\); name the one the features are columns of in reference\.input/);
    await loadFails(t, { m: { config: { reference: { input: 'c', features: [feature(0)] } }, versions: { 1: 'add_mul.onnx' } } }, /input "c" is not an input of the model \(a, b\)/);
    await loadFails(t, { m: { config: { reference: { features: [feature(0)] } }, versions: { 1: 'identity_int64.onnx' } } }, /input "x" has element type int64; tracked features need float32, float64 or an integer type/);
  });
});
