// MEMORY_LIMIT in Kubernetes: every meshserve container gets its own limits.memory, in bytes,
// through the downward API, so the service's memory budget always follows the pod's limit.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from './helpers/node-test.ts';
import { find, type K8sObject, ofKind, render, renderEditedProduction, renderProductionWithCanary, repoRoot } from './helpers/k8s.ts';

const APP = 'linkerd-service-mesh-machine-learning-pi';

type EnvVar = { name: string; value?: string; valueFrom?: { resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number } } };
type Container = { name: string; env?: EnvVar[]; envFrom?: { configMapRef?: { name: string } }[]; resources?: { limits?: Record<string, string> } };

const SUFFIX: Record<string, number> = { '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40 };

/** A Kubernetes quantity (as resources and divisors are written) as a number. */
function quantity(q: string | number): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T|)$/.exec(String(q));
  if (!m) throw new Error(`not a quantity this test understands: ${q}`);
  return Number(m[1]) * SUFFIX[m[2]!]!;
}

/**
 * What the kubelet puts in a container's environment for a resourceFieldRef on limits.memory:
 * the limit divided by the divisor (default 1), rounded up.
 */
function injected(d: K8sObject, v: EnvVar, self: Container): string {
  const ref = v.valueFrom!.resourceFieldRef!;
  const containers = d.spec.template.spec.containers as Container[];
  const target = ref.containerName === undefined ? self : containers.find((c) => c.name === ref.containerName);
  assert.ok(target, `${d.metadata.name}: resourceFieldRef names container "${ref.containerName}", which the pod does not have`);
  const limit = target.resources?.limits?.memory;
  assert.ok(limit, `${d.metadata.name}/${target.name} has no limits.memory, so MEMORY_LIMIT would be the node's allocatable memory`);
  return String(Math.ceil(quantity(limit) / quantity(ref.divisor ?? '1')));
}

function meshserveContainers(objects: K8sObject[]): { d: K8sObject; c: Container }[] {
  return ofKind(objects, 'Deployment').flatMap((d) => (d.spec.template.spec.containers as Container[]).filter((c) => c.name === 'meshserve').map((c) => ({ d, c })));
}

function memoryLimitOf(c: Container): EnvVar[] {
  return (c.env ?? []).filter((v) => v.name === 'MEMORY_LIMIT');
}

const renders: Record<string, K8sObject[]> = {
  production: render(join(repoRoot, 'k8s/overlays/production')),
  dev: render(join(repoRoot, 'k8s/overlays/dev')),
  'production + canary': renderProductionWithCanary(),
};

describe('MEMORY_LIMIT comes from limits.memory through the downward API', () => {
  for (const [name, objects] of Object.entries(renders)) {
    test(`${name}: every meshserve container gets its own memory limit in bytes`, () => {
      const found = meshserveContainers(objects);
      assert.ok(found.length >= (name.includes('canary') ? 2 : 1), 'expected the meshserve Deployment(s)');
      for (const { d, c } of found) {
        const vars = memoryLimitOf(c);
        assert.equal(vars.length, 1, `${d.metadata.name}: exactly one MEMORY_LIMIT entry`);
        const v = vars[0]!;
        assert.equal(v.value, undefined, `${d.metadata.name}: MEMORY_LIMIT must not be a fixed value`);
        const ref = v.valueFrom?.resourceFieldRef;
        assert.ok(ref, `${d.metadata.name}: MEMORY_LIMIT must come from a resourceFieldRef`);
        assert.equal(ref.resource, 'limits.memory');
        assert.equal(ref.containerName, 'meshserve', 'names its own container explicitly');
        assert.equal(quantity(ref.divisor ?? '1'), 1, 'divisor 1: the value is in bytes');
        assert.equal(injected(d, v, c), String(2 ** 30), '1Gi is 1073741824 bytes');
      }
    });

    test(`${name}: no ConfigMap sets MEMORY_LIMIT (the explicit env entry would silently win over it)`, () => {
      for (const { d, c } of meshserveContainers(objects)) {
        for (const source of c.envFrom ?? []) {
          if (!source.configMapRef) continue;
          const data = find(objects, 'ConfigMap', source.configMapRef.name).data ?? {};
          assert.ok(!('MEMORY_LIMIT' in data), `${d.metadata.name}: ConfigMap ${source.configMapRef.name} sets MEMORY_LIMIT`);
        }
      }
    });
  }

  test('a different limits.memory in an overlay changes MEMORY_LIMIT with it', () => {
    const objects = renderEditedProduction((k) => {
      k.patches = [
        ...((k.patches as unknown[] | undefined) ?? []),
        {
          target: { kind: 'Deployment', name: APP },
          patch: JSON.stringify([{ op: 'replace', path: '/spec/template/spec/containers/0/resources/limits/memory', value: '768Mi' }]),
        },
      ];
    });
    const d = find(objects, 'Deployment', APP);
    const c = (d.spec.template.spec.containers as Container[]).find((x) => x.name === 'meshserve')!;
    assert.equal(c.resources?.limits?.memory, '768Mi');
    assert.equal(injected(d, memoryLimitOf(c)[0]!, c), String(768 * 2 ** 20));
  });

  test('the quantity arithmetic of this test', () => {
    assert.equal(quantity('1Gi'), 1073741824);
    assert.equal(quantity('512Mi'), 536870912);
    assert.equal(quantity('1G'), 1e9);
    assert.equal(quantity(1), 1);
    assert.throws(() => quantity('1gi'));
  });
});
