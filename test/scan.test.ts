// The model repository as the poller sees it: the scan, the stability rule (a version is picked up only when
// its files are unchanged over two scans), the version policies applied to it, and the load/unload plan.
import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from './helpers/node-test.ts';
import {
  desiredState,
  type DesiredModel,
  type LoadedVersion,
  NAME,
  type ObservedVersion,
  plan,
  policyFromConfigText,
  scanModel,
  scanRepository,
  ScanError,
  StabilityTracker,
  VERSION,
} from '../src/models/scan.ts';

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'meshserve-scan-'));
});
after(() => rm(root, { recursive: true, force: true }));

let counter = 0;
/** A fresh repository directory under the test's temp root. */
async function repo(layout: Record<string, string> = {}): Promise<string> {
  const dir = join(root, `r${++counter}`);
  await mkdir(dir);
  for (const [file, content] of Object.entries(layout)) await put(dir, file, content);
  return dir;
}

async function put(dir: string, file: string, content: string): Promise<void> {
  await mkdir(join(dir, file, '..'), { recursive: true });
  await writeFile(join(dir, file), content);
}

/** Sets a file's mtime to a fixed second, so a rewrite of the same size is still a change only by content. */
async function touch(dir: string, file: string, seconds: number): Promise<void> {
  await utimes(join(dir, file), seconds, seconds);
}

const loaded = (name: string, version: number, fingerprint: string, configHash: string, state: LoadedVersion['state'] = 'ready'): LoadedVersion => ({ name, version, fingerprint, configHash, state });

describe('names', () => {
  test('NAME and VERSION are the repository\'s rules', () => {
    for (const ok of ['iris', 'a', 'Model_1.v2-x', '0abc']) assert.match(ok, NAME);
    for (const bad of ['', '.hidden', '-x', '_x', 'a/b', 'a b', 'x'.repeat(129), '..']) assert.doesNotMatch(bad, NAME);
    for (const ok of ['1', '9', '10', '999999999']) assert.match(ok, VERSION);
    for (const bad of ['0', '01', '-1', '1.0', '1000000000', 'v1', '']) assert.doesNotMatch(bad, VERSION);
  });
});

describe('scanRepository', () => {
  test('lists models, config.json and versions with model.onnx; reports what it skips', async () => {
    const dir = await repo({
      'iris/config.json': '{"labels":["a"]}',
      'iris/1/model.onnx': 'one',
      'iris/2/model.onnx': 'two!',
      'iris/2/model.onnx.data': 'weights',
      'iris/3/notes.txt': 'no model here yet',
      'iris/01/model.onnx': 'not a version name',
      'iris/.4.tmp/model.onnx': 'being staged',
      'plain/1/model.onnx': 'x',
      'README.md': 'not a model',
      '.staging/1/model.onnx': 'hidden',
      'bad name/1/model.onnx': 'x',
    });
    const scan = await scanRepository(dir);
    assert.deepEqual([...scan.models.keys()], ['iris', 'plain']);
    const iris = scan.models.get('iris')!;
    assert.equal(iris.configText, '{"labels":["a"]}');
    assert.match(iris.configHash, /^[0-9a-f]{64}$/);
    assert.equal(scan.models.get('plain')!.configHash, 'none');
    assert.deepEqual(iris.versions.map((v) => v.version), [1, 2]);
    const v2 = iris.versions[1]!;
    assert.equal(v2.path, join(dir, 'iris', '2', 'model.onnx'));
    assert.equal(v2.size, 4);
    assert.equal(v2.bytes, 4 + 7);
    assert.deepEqual(v2.files.map((f) => f.name), ['model.onnx', 'model.onnx.data']);
    assert.ok(v2.mtimeMs > 0);
    assert.deepEqual(scan.problems.map((p) => p.path).sort(), ['bad name', 'iris/3']);
    assert.match(scan.problems.find((p) => p.path === 'iris/3')!.message, /no model\.onnx/);
  });

  test('follows symbolic links (git-sync and ConfigMap volumes swap directories by link)', async () => {
    const target = await repo({ 'm/1/model.onnx': 'abc' });
    const dir = await repo();
    await symlink(join(target, 'm'), join(dir, 'm'));
    const scan = await scanRepository(dir);
    assert.deepEqual(scan.models.get('m')?.versions.map((v) => v.version), [1]);
  });

  test('a root that cannot be read is a ScanError (the poller keeps what it has)', async () => {
    await assert.rejects(scanRepository(join(root, 'missing')), (e: Error) => e instanceof ScanError && /cannot be read: ENOENT/.test(e.message));
  });

  test('the fingerprint changes with any file of the version, and only then', async () => {
    const dir = await repo({ 'm/1/model.onnx': 'abc' });
    await touch(dir, 'm/1/model.onnx', 1_000_000);
    const a = (await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint;
    assert.equal((await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint, a);
    await appendFile(join(dir, 'm/1/model.onnx'), 'd');
    await touch(dir, 'm/1/model.onnx', 1_000_000);
    const b = (await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint;
    assert.notEqual(b, a, 'size changed');
    await touch(dir, 'm/1/model.onnx', 1_000_001);
    const c = (await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint;
    assert.notEqual(c, b, 'mtime changed');
    await put(dir, 'm/1/.model.onnx.Xy12', 'partial');
    assert.notEqual((await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint, c, 'a hidden temporary file of a copy in progress counts');
  });

  test('a file replaced by rename with the same size and mtime still changes the fingerprint (inode)', async () => {
    const dir = await repo({ 'm/1/model.onnx': 'abc', 'm/new.onnx': 'xyz' });
    await touch(dir, 'm/1/model.onnx', 1_000_000);
    await touch(dir, 'm/new.onnx', 1_000_000);
    const a = (await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint;
    await rename(join(dir, 'm/new.onnx'), join(dir, 'm/1/model.onnx'));
    assert.notEqual((await scanRepository(dir)).models.get('m')!.versions[0]!.fingerprint, a);
  });

  test('scanModel finds one model by listing the root, never by joining an unchecked name', async () => {
    const dir = await repo({ 'iris/1/model.onnx': 'x', 'other/1/model.onnx': 'y' });
    assert.deepEqual((await scanModel(dir, 'iris')).model?.versions.map((v) => v.version), [1]);
    for (const name of ['nope', '../iris', 'iris/1', '.', '..', '']) assert.equal((await scanModel(dir, name)).model, undefined, name);
  });
});

describe('StabilityTracker: a version is picked up when unchanged over two scans', () => {
  test('first sight is never stable; the second identical scan is', async () => {
    const dir = await repo({ 'm/config.json': '{}', 'm/1/model.onnx': 'abc' });
    const tracker = new StabilityTracker();
    const first = tracker.observe(await scanRepository(dir)).models.get('m')!;
    assert.equal(first.versions[0]!.stable, false);
    assert.equal(first.configStable, false);
    const second = tracker.observe(await scanRepository(dir)).models.get('m')!;
    assert.equal(second.versions[0]!.stable, true);
    assert.equal(second.configStable, true);
  });

  test('a half-written file is not stable while it grows, and is once it stops', async () => {
    const dir = await repo({ 'm/1/model.onnx': 'done' });
    const tracker = new StabilityTracker();
    tracker.observe(await scanRepository(dir));
    await put(dir, 'm/2/model.onnx', 'par');
    const v2 = () => tracker.observe(scan!).models.get('m')!.versions.find((v) => v.version === 2)!;
    let scan = await scanRepository(dir);
    assert.equal(v2().stable, false, 'new');
    await appendFile(join(dir, 'm/2/model.onnx'), 'tial');
    scan = await scanRepository(dir);
    assert.equal(v2().stable, false, 'still growing');
    scan = await scanRepository(dir);
    assert.equal(v2().stable, true, 'unchanged since the previous scan');
    const v1 = tracker.observe(await scanRepository(dir)).models.get('m')!.versions.find((v) => v.version === 1)!;
    assert.equal(v1.stable, true, 'the complete version stayed stable throughout');
  });

  test('an empty model.onnx is never stable (created, not yet written)', async () => {
    const dir = await repo({ 'm/1/model.onnx': '' });
    const tracker = new StabilityTracker();
    for (let i = 0; i < 3; i++) assert.equal(tracker.observe(await scanRepository(dir)).models.get('m')!.versions[0]!.stable, false);
  });

  test('a changed config.json is unstable for one scan', async () => {
    const dir = await repo({ 'm/config.json': '{}', 'm/1/model.onnx': 'abc' });
    const tracker = new StabilityTracker();
    tracker.observe(await scanRepository(dir));
    tracker.observe(await scanRepository(dir));
    await put(dir, 'm/config.json', '{"max_batch_size": 4}');
    assert.equal(tracker.observe(await scanRepository(dir)).models.get('m')!.configStable, false);
    assert.equal(tracker.observe(await scanRepository(dir)).models.get('m')!.configStable, true);
  });

  test('what disappears is kept, unstable and marked gone, for one scan, then dropped', async () => {
    const dir = await repo({ 'm/1/model.onnx': 'a', 'm/2/model.onnx': 'b', 'n/1/model.onnx': 'c' });
    const tracker = new StabilityTracker();
    tracker.observe(await scanRepository(dir));
    await rm(join(dir, 'm/2'), { recursive: true });
    await rm(join(dir, 'n'), { recursive: true });
    const once = tracker.observe(await scanRepository(dir));
    assert.deepEqual(once.models.get('m')!.versions.map((v) => [v.version, v.gone, v.stable]), [[1, false, true], [2, true, false]]);
    assert.equal(once.models.get('n')!.gone, true);
    const twice = tracker.observe(await scanRepository(dir));
    assert.deepEqual(twice.models.get('m')!.versions.map((v) => v.version), [1]);
    assert.equal(twice.models.has('n'), false);
  });

  test('observeModel tracks one model without touching the others', async () => {
    const dir = await repo({ 'a/1/model.onnx': 'a', 'b/1/model.onnx': 'b' });
    const tracker = new StabilityTracker();
    tracker.observe(await scanRepository(dir));
    assert.equal(tracker.observeModel('a', (await scanModel(dir, 'a')).model)!.versions[0]!.stable, true);
    assert.equal(tracker.observe(await scanRepository(dir)).models.get('b')!.versions[0]!.stable, true);
    assert.equal(tracker.observeModel('a', undefined), undefined);
    assert.equal(tracker.observe(await scanRepository(dir)).models.get('a')!.versions[0]!.stable, false, 'forgotten, so seen anew');
  });
});

describe('policyFromConfigText and desiredState', () => {
  test('reads only version_policy; reports a bad one or bad JSON', () => {
    assert.deepEqual(policyFromConfigText(undefined), { policy: undefined });
    assert.deepEqual(policyFromConfigText('{"labels":["a"]}'), { policy: undefined });
    assert.deepEqual(policyFromConfigText('{"version_policy":{"all":{}}}'), { policy: { all: {} } });
    assert.match((policyFromConfigText('{"version_policy":{"latest":{"num_versions":0}}}') as { error: string }).error, /version_policy\.latest\.num_versions: num_versions is a positive integer/);
    assert.match((policyFromConfigText('{"version_policy":') as { error: string }).error, /not valid JSON/);
    assert.match((policyFromConfigText('[1]') as { error: string }).error, /not a JSON object/);
  });

  test('each model\'s policy selects among its versions, complete or not', async () => {
    const dir = await repo({
      'latest/1/model.onnx': 'a',
      'latest/2/model.onnx': 'b',
      'two/config.json': '{"version_policy":{"latest":{"num_versions":2}}}',
      'two/1/model.onnx': 'a',
      'two/2/model.onnx': 'b',
      'two/3/model.onnx': 'c',
      'all/config.json': '{"version_policy":{"all":{}}}',
      'all/1/model.onnx': 'a',
      'all/5/model.onnx': 'b',
      'some/config.json': '{"version_policy":{"specific":{"versions":[1,4]}}}',
      'some/1/model.onnx': 'a',
      'some/2/model.onnx': 'b',
      'bad/config.json': '{"version_policy":{"newest":{}}}',
      'bad/1/model.onnx': 'a',
    });
    const tracker = new StabilityTracker();
    tracker.observe(await scanRepository(dir));
    const desired = desiredState(tracker.observe(await scanRepository(dir)));
    const versions = (name: string) => desired.get(name)!.versions.map((v) => v.version);
    assert.deepEqual(versions('latest'), [2]);
    assert.deepEqual(versions('two'), [2, 3]);
    assert.deepEqual(versions('all'), [1, 5]);
    assert.deepEqual(versions('some'), [1]);
    assert.deepEqual(desired.get('some')!.missing, [4]);
    assert.deepEqual(desired.get('some')!.available, [1, 2]);
    assert.match(desired.get('bad')!.policyError!, /version_policy/);
  });
});

// ---- plan ----

function version(v: number, fingerprint: string, stable = true, gone = false): ObservedVersion {
  return { version: v, dir: `/r/m/${v}`, path: `/r/m/${v}/model.onnx`, size: 10, mtimeMs: 1, bytes: 10 * v, files: [], fingerprint, stable, gone };
}

function want(versions: ObservedVersion[], extra: Partial<DesiredModel> = {}): Map<string, DesiredModel> {
  return new Map([['m', { name: 'm', configHash: 'c1', configStable: true, policy: undefined, versions, available: versions.filter((v) => !v.gone).map((v) => v.version), missing: [], ...extra }]]);
}

describe('plan: what to load and unload', () => {
  test('a new model: load its versions, newest first, nothing to unload', () => {
    const p = plan(want([version(1, 'f1'), version(2, 'f2')]), []);
    assert.deepEqual(p.load.map((l) => [l.version, l.reason, l.replacesInstance]), [[2, 'new', false], [1, 'new', false]]);
    assert.equal(p.load[0]!.path, '/r/m/2/model.onnx');
    assert.equal(p.load[0]!.bytes, 20);
    assert.deepEqual(p.unload, []);
  });

  test('nothing changed: an empty plan', () => {
    const p = plan(want([version(2, 'f2')]), [loaded('m', 2, 'f2', 'c1')]);
    assert.deepEqual(p, { load: [], unload: [], waiting: [] });
  });

  test('a new version under latest 1: load it, then unload the old one after it', () => {
    const p = plan(want([version(2, 'f2')], { available: [1, 2] }), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(p.load.map((l) => [l.name, l.version, l.reason]), [['m', 2, 'new']]);
    assert.deepEqual(p.unload, [{ name: 'm', version: 1, reason: 'policy', after: [{ name: 'm', version: 2 }] }]);
  });

  test('a version whose files changed in place is loaded again and swapped for the serving instance', () => {
    const p = plan(want([version(1, 'f1b')]), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(p.load.map((l) => [l.version, l.reason, l.replacesInstance, l.fingerprint]), [[1, 'changed', true, 'f1b']]);
    assert.deepEqual(p.unload, [], 'the swap replaces the instance; no separate unload');
  });

  test('a changed config.json reloads every serving version', () => {
    const p = plan(want([version(1, 'f1'), version(2, 'f2')], { configHash: 'c2' }), [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1')]);
    assert.deepEqual(p.load.map((l) => [l.version, l.reason, l.replacesInstance, l.configHash]), [[2, 'config', true, 'c2'], [1, 'config', true, 'c2']]);
  });

  test('a half-written new version is not loaded and the old one keeps serving', () => {
    const p = plan(want([version(2, 'f2', false)], { available: [1, 2] }), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(p.load, []);
    assert.deepEqual(p.unload, []);
    assert.deepEqual(p.waiting.map((w) => [w.version, /changing/.test(w.reason) || /kept serving/.test(w.reason)]), [[2, true], [1, true]]);
  });

  test('a version that failed to load is not retried with the same files, and the old one keeps serving', () => {
    const have = [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1', 'failed')];
    const p = plan(want([version(2, 'f2')], { available: [1, 2] }), have);
    assert.deepEqual(p.load, []);
    assert.deepEqual(p.unload, []);
    assert.ok(p.waiting.some((w) => w.version === 2 && /failed to load/.test(w.reason)));
    assert.ok(p.waiting.some((w) => w.version === 1 && /kept serving/.test(w.reason)));
  });

  test('...and is tried again once its files change', () => {
    const have = [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1', 'failed')];
    const p = plan(want([version(2, 'f2-fixed')], { available: [1, 2] }), have);
    assert.deepEqual(p.load.map((l) => [l.version, l.reason, l.replacesInstance]), [[2, 'new', false]]);
    assert.deepEqual(p.unload, [{ name: 'm', version: 1, reason: 'policy', after: [{ name: 'm', version: 2 }] }]);
  });

  test('a version being loaded is not loaded twice; an unload waits for it', () => {
    const p = plan(want([version(2, 'f2')], { available: [1, 2] }), [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1', 'loading')]);
    assert.deepEqual(p.load, []);
    assert.deepEqual(p.unload, [{ name: 'm', version: 1, reason: 'policy', after: [{ name: 'm', version: 2 }] }]);
  });

  test('instances already unloading are ignored', () => {
    const p = plan(want([version(2, 'f2')], { available: [1, 2] }), [loaded('m', 1, 'f1', 'c1', 'unloading'), loaded('m', 2, 'f2', 'c1')]);
    assert.deepEqual(p, { load: [], unload: [], waiting: [] });
  });

  test('a version removed from the repository is unloaded once the versions that replace it are loaded', () => {
    const p = plan(want([version(2, 'f2')], { available: [2] }), [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1')]);
    assert.deepEqual(p.unload, [{ name: 'm', version: 1, reason: 'removed', after: [] }]);
  });

  test('a version missing for one scan (gone) holds the plan; a model with no version left is unloaded', () => {
    const held = plan(want([version(1, 'f1', false, true)], { available: [] }), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(held.unload, []);
    assert.ok(held.waiting.some((w) => /missing/.test(w.reason)));
    const gone = plan(want([], { available: [] }), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(gone.unload, [{ name: 'm', version: 1, reason: 'removed', after: [] }]);
  });

  test('a model directory gone from the repository: every serving version is unloaded', () => {
    const p = plan(new Map(), [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1', 'loading'), loaded('m', 3, 'f3', 'c1', 'failed')]);
    assert.deepEqual(p.unload.map((u) => [u.version, u.reason, u.after]), [[1, 'model_removed', []], [2, 'model_removed', []]]);
  });

  test('a specific policy naming only versions that are not there keeps what serves', () => {
    const p = plan(want([], { available: [1], missing: [4] }), [loaded('m', 1, 'f1', 'c1')]);
    assert.deepEqual(p.unload, []);
    assert.ok(p.waiting.some((w) => w.version === 1 && /missing: 4/.test(w.reason)));
  });

  test('a config.json still changing, or a bad version_policy, changes nothing for the model', () => {
    const have = [loaded('m', 1, 'f1', 'c1')];
    const changing = plan(want([version(2, 'f2')], { configStable: false, available: [1, 2] }), have);
    assert.deepEqual([changing.load, changing.unload], [[], []]);
    assert.match(changing.waiting[0]!.reason, /config\.json/);
    const bad = plan(want([version(2, 'f2')], { policyError: 'config.json: version_policy: bad', available: [1, 2] }), have);
    assert.deepEqual([bad.load, bad.unload], [[], []]);
    assert.match(bad.waiting[0]!.reason, /version_policy/);
  });

  test('latest 2 with two new versions: both load, both old ones unload after both', () => {
    const p = plan(want([version(3, 'f3'), version(4, 'f4')], { available: [1, 2, 3, 4] }), [loaded('m', 1, 'f1', 'c1'), loaded('m', 2, 'f2', 'c1')]);
    assert.deepEqual(p.load.map((l) => l.version), [4, 3]);
    const after = [{ name: 'm', version: 4 }, { name: 'm', version: 3 }];
    assert.deepEqual(p.unload, [{ name: 'm', version: 1, reason: 'policy', after }, { name: 'm', version: 2, reason: 'policy', after }]);
  });

  test('only: explicit mode plans one model and leaves the others alone', () => {
    const desired = want([version(1, 'f1')]);
    const p = plan(desired, [loaded('other', 1, 'x', 'none')], { only: new Set(['m']) });
    assert.deepEqual(p.load.map((l) => [l.name, l.version]), [['m', 1]]);
    assert.deepEqual(p.unload, [], 'other is not in desired but was not asked about');
  });

  test('from the filesystem to the plan: a version dropped in is loaded on the scan after it settles', async () => {
    const dir = await repo({ 'm/1/model.onnx': 'one' });
    const tracker = new StabilityTracker();
    const step = async (have: LoadedVersion[]) => plan(desiredState(tracker.observe(await scanRepository(dir))), have);
    assert.deepEqual((await step([])).load, [], 'first scan: nothing is stable yet');
    const first = await step([]);
    assert.deepEqual(first.load.map((l) => l.version), [1]);
    const have = [loaded('m', 1, first.load[0]!.fingerprint, first.load[0]!.configHash)];
    assert.deepEqual(await step(have), { load: [], unload: [], waiting: [] });
    await put(dir, 'm/2/model.onnx', 'tw');
    const writing = await step(have);
    assert.deepEqual([writing.load, writing.unload], [[], []]);
    await appendFile(join(dir, 'm/2/model.onnx'), 'o');
    assert.deepEqual((await step(have)).load, [], 'still growing');
    const settled = await step(have);
    assert.deepEqual(settled.load.map((l) => l.version), [2]);
    assert.deepEqual(settled.unload, [{ name: 'm', version: 1, reason: 'policy', after: [{ name: 'm', version: 2 }] }]);
  });
});
