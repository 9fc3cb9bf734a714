// Version policies of config.json (Triton's names): the schema, and which versions each one serves.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from './helpers/node-test.ts';
import { modelConfigSchema, readModelConfig, RepositoryError } from '../src/models/config.ts';
import { DEFAULT_VERSION_POLICY, describeVersionPolicy, missingVersions, selectVersions, versionPolicySchema } from '../src/models/version-policy.ts';

describe('version_policy schema', () => {
  test('accepts the three Triton forms', () => {
    assert.deepEqual(versionPolicySchema.parse({ latest: { num_versions: 2 } }), { latest: { num_versions: 2 } });
    assert.deepEqual(versionPolicySchema.parse({ all: {} }), { all: {} });
    assert.deepEqual(versionPolicySchema.parse({ specific: { versions: [1, 3] } }), { specific: { versions: [1, 3] } });
  });

  const rejected: Array<[unknown, RegExp]> = [
    [{}, /exactly one of/],
    [{ latest: { num_versions: 1 }, all: {} }, /exactly one of/],
    [{ newest: {} }, /newest/],
    [{ latest: {} }, /num_versions/],
    [{ latest: { num_versions: 0 } }, /num_versions is a positive integer/],
    [{ latest: { num_versions: 1.5 } }, /num_versions is a positive integer/],
    [{ latest: { num_versions: '2' } }, /num_versions is a positive integer/],
    [{ all: { x: 1 } }, /x/],
    [{ specific: { versions: [] } }, /at least one version/],
    [{ specific: { versions: [0] } }, /a version is a positive integer/],
    [{ specific: { versions: [1, 1] } }, /listed twice/],
    [{ specific: { versions: [1_000_000_000] } }, /at most 999999999/],
    [{ specific: { versions: ['1'] } }, /a version is a positive integer/],
    ['latest', /expected object|object/i],
  ];
  for (const [policy, says] of rejected) {
    test(`refuses ${JSON.stringify(policy)}`, () => {
      const parsed = versionPolicySchema.safeParse(policy);
      assert.equal(parsed.success, false);
      const text = parsed.error!.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ');
      assert.match(text, says);
    });
  }

  test('config.json takes version_policy; a bad one stops the load naming the field', async () => {
    assert.deepEqual(modelConfigSchema.parse({ version_policy: { all: {} } }), { version_policy: { all: {} } });
    assert.deepEqual(modelConfigSchema.parse({}), {});
    const dir = await mkdtemp(join(tmpdir(), 'meshserve-policy-'));
    try {
      await writeFile(join(dir, 'config.json'), JSON.stringify({ version_policy: { latest: { num_versions: 0 } } }));
      await assert.rejects(readModelConfig(join(dir, 'config.json')), (e: Error) =>
        e instanceof RepositoryError && /version_policy\.latest\.num_versions: num_versions is a positive integer/.test(e.message) && /accepted keys: .*version_policy/.test(e.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('selectVersions', () => {
  const available = [3, 1, 10, 2];

  test('the default is the highest version (latest 1)', () => {
    assert.deepEqual(selectVersions(undefined, available), [10]);
    assert.deepEqual(DEFAULT_VERSION_POLICY, { latest: { num_versions: 1 } });
    assert.deepEqual(selectVersions(DEFAULT_VERSION_POLICY, available), [10]);
  });

  test('latest N: the N highest, ascending, numerically (10 > 3)', () => {
    assert.deepEqual(selectVersions({ latest: { num_versions: 2 } }, available), [3, 10]);
    assert.deepEqual(selectVersions({ latest: { num_versions: 9 } }, available), [1, 2, 3, 10]);
  });

  test('all: every version', () => {
    assert.deepEqual(selectVersions({ all: {} }, available), [1, 2, 3, 10]);
  });

  test('specific: the listed versions that are there; missingVersions names the others', () => {
    const policy = { specific: { versions: [10, 4, 1] } };
    assert.deepEqual(selectVersions(policy, available), [1, 10]);
    assert.deepEqual(missingVersions(policy, available), [4]);
    assert.deepEqual(missingVersions({ all: {} }, available), []);
    assert.deepEqual(missingVersions(undefined, []), []);
  });

  test('nothing available selects nothing; duplicates and non-versions are ignored', () => {
    for (const policy of [undefined, { all: {} }, { latest: { num_versions: 3 } }, { specific: { versions: [1] } }]) assert.deepEqual(selectVersions(policy, []), []);
    assert.deepEqual(selectVersions({ all: {} }, [2, 2, 0, -1, 1.5, 1]), [1, 2]);
  });

  test('the input is not modified', () => {
    const input = [3, 1, 2];
    selectVersions({ latest: { num_versions: 1 } }, input);
    assert.deepEqual(input, [3, 1, 2]);
  });

  test('describeVersionPolicy: one line for logs', () => {
    assert.equal(describeVersionPolicy(undefined), 'latest 1');
    assert.equal(describeVersionPolicy({ latest: { num_versions: 3 } }), 'latest 3');
    assert.equal(describeVersionPolicy({ all: {} }), 'all');
    assert.equal(describeVersionPolicy({ specific: { versions: [3, 1] } }), 'specific 1, 3');
  });
});
