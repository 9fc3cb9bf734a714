// Model delivery on Kubernetes and the repository API's admin policy, checked offline: the production
// overlay with each model-delivery component renders, validates, and serves the repository from the
// volume; /v2/repository is reachable by the listed admin identity only.
import assert from 'node:assert/strict';
import { describe, test } from './helpers/node-test.ts';
import { CONFIG_VARIABLES } from '../src/config.ts';
import {
  type Client,
  decide,
  find,
  type K8sObject,
  ofKind,
  render,
  renderEditedProduction,
  repoRoot,
  schemaDir,
  skipWithoutSchemas,
  unknownFieldErrors,
  validateObject,
} from './helpers/k8s.ts';
import { join } from 'node:path';

const APP = 'linkerd-service-mesh-machine-learning-pi';
const MODEL_IMAGE = { name: 'meshserve-models', newName: 'ghcr.io/meshserve/meshserve-models', newTag: 'iris-2' };

/** Production with one model-delivery component added, and the model image named, as docs/models.md says. */
function withComponent(component: string): K8sObject[] {
  return renderEditedProduction((k) => {
    k.components = [...((k.components as string[] | undefined) ?? []), `../../components/${component}`];
    k.images = [...((k.images as unknown[] | undefined) ?? []), MODEL_IMAGE];
  });
}

const production = render(join(repoRoot, 'k8s/overlays/production'));
const renders: Record<string, K8sObject[]> = {
  'models-image-volume': withComponent('models-image-volume'),
  'models-init-copy': withComponent('models-init-copy'),
  'models-pvc': withComponent('models-pvc'),
};

const deploymentOf = (objects: K8sObject[]) => find(objects, 'Deployment', APP);
const podSpecOf = (objects: K8sObject[]) => deploymentOf(objects).spec.template.spec;
const appOf = (objects: K8sObject[]) => podSpecOf(objects).containers.find((c: { name: string }) => c.name === 'meshserve');
const configOf = (objects: K8sObject[]): Record<string, string> => find(objects, 'ConfigMap', appOf(objects).envFrom[0].configMapRef.name).data ?? {};
/** The volume behind the mount that holds MODEL_REPOSITORY, and the mount. */
function repositoryVolume(objects: K8sObject[]) {
  const repository = configOf(objects).MODEL_REPOSITORY!;
  const mount = appOf(objects).volumeMounts.find((m: { mountPath: string }) => repository === m.mountPath || repository.startsWith(`${m.mountPath}/`));
  assert.ok(mount, `no volume mounted at or above MODEL_REPOSITORY=${repository}`);
  const volume = podSpecOf(objects).volumes.find((v: { name: string }) => v.name === mount.name);
  return { repository, mount, volume };
}

describe('model delivery components render with the production overlay and validate', () => {
  for (const [name, objects] of Object.entries(renders)) {
    test(`${name}: every object passes kubernetes-models, with no unknown field`, async () => {
      const errors: string[] = [];
      for (const o of objects) errors.push(...(await validateObject(o)).errors);
      assert.deepEqual(errors, []);
      assert.deepEqual(unknownFieldErrors(objects), []);
    });

    test(`${name}: Linkerd kinds pass the Linkerd CRD JSON schemas`, async (t) => {
      if (skipWithoutSchemas(t, schemaDir, 'Linkerd CRD')) return;
      for (const o of objects.filter((x) => x.apiVersion.includes('linkerd.io'))) {
        const v = await validateObject(o);
        assert.equal(v.validator, 'json-schema');
        assert.deepEqual(v.errors, []);
      }
    });

    test(`${name}: the ConfigMap holds only variables the service reads, and MODEL_REPOSITORY is on the volume, mounted read-only`, () => {
      const config = configOf(objects);
      for (const key of Object.keys(config)) assert.ok(CONFIG_VARIABLES.includes(key), `unknown variable ${key}`);
      const { mount } = repositoryVolume(objects);
      assert.equal(mount.readOnly, true);
      assert.notEqual(config.MODEL_REPOSITORY, '/app/models', 'not the models baked into the image');
    });

    test(`${name}: the rest of the workload is production's (probes, resources, security, policy)`, () => {
      const app = appOf(objects);
      const base = appOf(production);
      for (const key of ['livenessProbe', 'readinessProbe', 'resources', 'securityContext', 'ports', 'env']) assert.deepEqual(app[key], base[key], key);
      assert.deepEqual(podSpecOf(objects).securityContext, podSpecOf(production).securityContext);
      const policy = (o: K8sObject[]) => o.filter((x) => x.apiVersion.startsWith('policy.linkerd.io')).map((x) => JSON.stringify(x)).sort();
      assert.deepEqual(policy(objects), policy(production));
    });

    test(`${name}: every init container is locked down like the app and has resources; images are pinned`, () => {
      for (const c of podSpecOf(objects).initContainers ?? []) {
        assert.equal(c.securityContext.allowPrivilegeEscalation, false, c.name);
        assert.equal(c.securityContext.readOnlyRootFilesystem, true, c.name);
        assert.equal(c.securityContext.runAsNonRoot, true, c.name);
        assert.deepEqual(c.securityContext.capabilities.drop, ['ALL'], c.name);
        assert.ok(c.resources.requests.cpu && c.resources.requests.memory && c.resources.limits.memory, c.name);
        assert.match(c.image, /^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._/-]+)?(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/, `${c.name}: ${c.image} has neither tag nor digest`);
        assert.doesNotMatch(c.image, /:latest$/);
      }
    });
  }
});

describe('models-image-volume', () => {
  const objects = renders['models-image-volume']!;

  test('the model image is an image volume, named by the overlay\'s images entry, pulled IfNotPresent', () => {
    const { volume, mount, repository } = repositoryVolume(objects);
    assert.deepEqual(volume.image, { reference: 'ghcr.io/meshserve/meshserve-models:iris-2', pullPolicy: 'IfNotPresent' });
    assert.equal(mount.mountPath, '/model-image');
    assert.equal(repository, '/model-image/models', 'the image holds models/<name>/<version>/model.onnx');
  });

  test('models change by rollout: MODEL_CONTROL_MODE=none, and no init container', () => {
    assert.equal(configOf(objects).MODEL_CONTROL_MODE, 'none');
    assert.equal(podSpecOf(objects).initContainers, undefined);
  });

  test('a new model image tag changes the pod template, so the pods roll', () => {
    const next = renderEditedProduction((k) => {
      k.components = [...(k.components as string[]), '../../components/models-image-volume'];
      k.images = [...(k.images as unknown[]), { ...MODEL_IMAGE, newTag: 'iris-3' }];
    });
    assert.notDeepEqual(deploymentOf(next).spec.template, deploymentOf(objects).spec.template);
    assert.equal(repositoryVolume(next).volume.image.reference, 'ghcr.io/meshserve/meshserve-models:iris-3');
  });
});

describe('models-init-copy', () => {
  const objects = renders['models-init-copy']!;
  const init = podSpecOf(objects).initContainers as Array<{ name: string; image: string; command: string[]; volumeMounts: Array<{ name: string; mountPath: string; readOnly?: boolean }> }>;

  test('an emptyDir repository, written by the init containers, read-only in the app', () => {
    const { volume, mount, repository } = repositoryVolume(objects);
    assert.ok(volume.emptyDir?.sizeLimit, 'an emptyDir with a size limit');
    assert.equal(repository, '/models');
    assert.equal(mount.readOnly, true);
    assert.equal(configOf(objects).MODEL_CONTROL_MODE, 'none');
  });

  test('a static busybox is handed to the FROM-scratch model image, which copies its /models into the repository', () => {
    assert.deepEqual(init.map((c) => c.name), ['copy-tool', 'copy-models']);
    const [tool, copy] = init as [typeof init[0], typeof init[0]];
    assert.match(tool.image, /^busybox:[\d.]+-musl$/);
    const toolsVolume = tool.volumeMounts.find((m) => m.mountPath === '/tools')!;
    assert.equal(copy.image, 'ghcr.io/meshserve/meshserve-models:iris-2');
    assert.equal(copy.command[0], '/tools/busybox');
    assert.deepEqual(copy.command.slice(1), ['cp', '-R', '/models/.', '/repository/']);
    assert.ok(copy.volumeMounts.some((m) => m.name === toolsVolume.name && m.readOnly), 'the tool is mounted read-only for the copy');
    const target = copy.volumeMounts.find((m) => m.mountPath === '/repository')!;
    assert.equal(target.name, repositoryVolume(objects).volume.name, 'the copy writes the volume the app reads');
    assert.ok(!target.readOnly);
  });
});

describe('models-pvc', () => {
  const objects = renders['models-pvc']!;

  test('a shared claim mounted read-only, followed by the poller', () => {
    const { volume, repository } = repositoryVolume(objects);
    assert.deepEqual(volume.persistentVolumeClaim, { claimName: 'meshserve-models', readOnly: true });
    assert.equal(repository, '/models');
    const config = configOf(objects);
    assert.equal(config.MODEL_CONTROL_MODE, 'poll');
    assert.ok(Number(config.MODEL_POLL_SECONDS) > 0);
  });

  test('the claim exists in the namespace, ReadWriteMany (every pod mounts it), labelled like the rest', () => {
    const pvc = find(objects, 'PersistentVolumeClaim', 'meshserve-models');
    assert.equal(pvc.metadata.namespace, 'production');
    assert.deepEqual(pvc.spec.accessModes, ['ReadWriteMany']);
    assert.equal(pvc.metadata.labels?.['app.kubernetes.io/name'], APP);
  });
});

describe('Linkerd policy: the repository API is for the admin identity only', () => {
  const admin: Client = { ip: '10.244.1.30', serviceAccount: { name: 'meshserve-admin', namespace: 'production' } };
  const client: Client = { ip: '10.244.1.20', serviceAccount: { name: 'meshserve-client', namespace: 'production' } };
  const other: Client = { ip: '10.244.1.21', serviceAccount: { name: 'default', namespace: 'production' } };
  const adminElsewhere: Client = { ip: '10.244.9.9', serviceAccount: { name: 'meshserve-admin', namespace: 'elsewhere' } };
  const unauthenticated: Client = { ip: '10.0.3.7' };
  const routes = [['POST', '/v2/repository/index'], ['POST', '/v2/repository/models/iris/load'], ['POST', '/v2/repository/models/iris/unload']] as const;

  for (const [name, objects] of Object.entries({ production, ...renders })) {
    const d = deploymentOf(objects);
    const pod = { namespace: 'production', labels: d.spec.template.metadata.labels, ports: d.spec.template.spec.containers[0].ports };
    const ask = (method: string, path: string, c: Client) => decide(objects, pod, 8080, method, path, c);

    test(`${name}: the listed admin ServiceAccount may call index, load and unload`, () => {
      for (const [method, path] of routes) assert.equal(ask(method, path, admin), 'allow', `${method} ${path}`);
    });

    test(`${name}: inference clients, other meshed pods, the admin name in another namespace and unauthenticated callers are denied`, () => {
      for (const c of [client, other, adminElsewhere, unauthenticated]) {
        for (const [method, path] of [...routes, ['GET', '/v2/repository/index'], ['PUT', '/v2/repository/models/iris/load'], ['POST', '/v2/repository']]) {
          assert.equal(ask(method, path, c), 'deny', `${JSON.stringify(c)} ${method} ${path}`);
        }
      }
    });

    test(`${name}: the admin identity gets no inference, and inference clients keep theirs`, () => {
      assert.equal(ask('POST', '/v2/models/iris/infer', admin), 'deny');
      assert.equal(ask('POST', '/v2/models/iris/infer', client), 'allow');
      assert.equal(ask('GET', '/v2', client), 'allow');
      assert.equal(ask('POST', '/v2/repositoryx', client), 'allow', 'a whole-segment prefix: /v2/repositoryx is not the admin route (the app answers 404)');
    });
  }

  test('the admin route is its own HTTPRoute on the http Server, and its policy names an existing authentication', () => {
    const route = find(production, 'HTTPRoute', `${APP}-repository`);
    assert.equal(route.apiVersion, 'policy.linkerd.io/v1beta3');
    assert.deepEqual(route.spec.parentRefs.map((r: { kind: string; name: string }) => [r.kind, r.name]), [['Server', `${APP}-http`]]);
    const policy = ofKind(production, 'AuthorizationPolicy').find((p) => p.spec.targetRef.name === route.metadata.name)!;
    assert.ok(policy, 'an AuthorizationPolicy targets the route');
    const refs = policy.spec.requiredAuthenticationRefs as Array<{ kind: string; name: string }>;
    assert.deepEqual(refs.map((r) => r.kind), ['MeshTLSAuthentication']);
    const authn = find(production, 'MeshTLSAuthentication', refs[0]!.name);
    assert.deepEqual(authn.spec.identityRefs, [{ kind: 'ServiceAccount', name: 'meshserve-admin' }]);
    assert.equal(authn.spec.identities, undefined, 'no wildcard identities');
  });
});
