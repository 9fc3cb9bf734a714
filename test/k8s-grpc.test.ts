// gRPC in the mesh, checked offline on the rendered manifests: the Service's grpc port speaks h2c, the pods
// declare it, a Linkerd Server with proxyProtocol gRPC guards it, GRPCRoutes authorize the inference clients and
// kubelet like the HTTP routes do, an outbound GRPCRoute carries the timeout and UNAVAILABLE retries, and the
// canary component splits gRPC calls with the same weights as HTTP requests.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from './helpers/node-test.ts';
import { type Client, decide, find, type K8sObject, ofKind, render, renderProductionWithCanary, repoRoot, schemaDir, skipWithoutSchemas, validateObject } from './helpers/k8s.ts';

const APP = 'linkerd-service-mesh-machine-learning-pi';
const production = render(join(repoRoot, 'k8s/overlays/production'));
const dev = render(join(repoRoot, 'k8s/overlays/dev'));
const canary = renderProductionWithCanary();

const kubelet: Client = { ip: '10.0.3.7' };
const listedClient: Client = { ip: '10.244.1.20', serviceAccount: { name: 'meshserve-client', namespace: 'production' } };
const otherMeshed: Client = { ip: '10.244.1.21', serviceAccount: { name: 'default', namespace: 'production' } };
const unmeshed: Client = { ip: '10.244.1.22' };

const podOf = (d: K8sObject, namespace: string) => ({ namespace, labels: d.spec.template.metadata.labels, ports: d.spec.template.spec.containers[0].ports });
const INFER = '/inference.GRPCInferenceService/ModelInfer';
const HEALTH = '/grpc.health.v1.Health/Check';

describe('the grpc port', () => {
  test('stable and canary Services expose grpc 8081 -> the pods\' grpc port, appProtocol kubernetes.io/h2c', () => {
    for (const [objects, name] of [[production, APP], [canary, `${APP}-canary`]] as const) {
      const port = find(objects, 'Service', name).spec.ports.find((p: { name: string }) => p.name === 'grpc');
      assert.deepEqual(port, { name: 'grpc', port: 8081, targetPort: 'grpc', protocol: 'TCP', appProtocol: 'kubernetes.io/h2c' }, name);
    }
  });

  test('stable and canary pods declare container port grpc 8081', () => {
    for (const [objects, name] of [[production, APP], [canary, `${APP}-canary`]] as const) {
      const ports = find(objects, 'Deployment', name).spec.template.spec.containers[0].ports;
      assert.ok(ports.some((p: { name: string; containerPort: number }) => p.name === 'grpc' && p.containerPort === 8081), name);
    }
  });

  test('a Linkerd Server selects it with proxyProtocol gRPC and denies by default (audit in dev)', () => {
    const server = find(production, 'Server', `${APP}-grpc`);
    assert.equal(server.spec.port, 'grpc');
    assert.equal(server.spec.proxyProtocol, 'gRPC');
    assert.equal(server.spec.accessPolicy, 'deny');
    assert.equal(find(dev, 'Server', `${APP}-grpc`).spec.accessPolicy, 'audit');
  });

  test('the GRPCRoutes pass their CRD schema', async (t) => {
    if (skipWithoutSchemas(t, join(schemaDir, 'gateway.networking.k8s.io/grpcroute_v1.json'), 'gateway API GRPCRoute')) return;
    for (const objects of [production, dev, canary]) {
      const routes = ofKind(objects, 'GRPCRoute', 'gateway.networking.k8s.io');
      assert.equal(routes.length, 3);
      for (const route of routes) assert.deepEqual((await validateObject(route)).errors, []);
    }
  });
});

describe('Linkerd policy on the grpc port: as for the HTTP inference routes', () => {
  for (const [what, objects, deployment] of [
    ['stable', production, find(production, 'Deployment', APP)],
    ['canary', canary, find(canary, 'Deployment', `${APP}-canary`)],
  ] as const) {
    const ask = (path: string, client: Client) => decide(objects, podOf(deployment, 'production'), 8081, 'POST', path, client);

    test(`${what}: every inference RPC is allowed for the listed ServiceAccount only`, () => {
      for (const rpc of ['ModelInfer', 'ModelMetadata', 'ModelReady', 'ServerReady', 'ServerLive', 'ServerMetadata']) {
        assert.equal(ask(`/inference.GRPCInferenceService/${rpc}`, listedClient), 'allow', rpc);
      }
      for (const client of [otherMeshed, unmeshed, kubelet]) assert.equal(ask(INFER, client), 'deny', JSON.stringify(client));
    });

    test(`${what}: kubelet may call the health service (native gRPC probes), and only that`, () => {
      assert.equal(ask(HEALTH, kubelet), 'allow');
      // Like the HTTP probe routes, by network: a caller outside the node networks is refused.
      assert.equal(ask(HEALTH, { ip: '203.0.113.9' }), 'deny');
    });

    test(`${what}: services no route lists are refused, even to the listed clients`, () => {
      assert.equal(ask('/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', listedClient), 'deny');
      assert.equal(ask('/inference.Other/ModelInfer', listedClient), 'deny');
    });
  }
});

describe('outbound: timeouts, retries and the canary split', () => {
  test('a GRPCRoute on the Service\'s grpc port: the HTTP request timeout, one retry on UNAVAILABLE only', () => {
    const route = find(production, 'GRPCRoute', `${APP}-grpc`);
    assert.deepEqual(route.spec.parentRefs, [{ group: 'core', kind: 'Service', name: APP, port: 8081 }]);
    const annotations = route.metadata.annotations ?? {};
    assert.equal(annotations['timeout.linkerd.io/request'], find(production, 'Service', APP).metadata.annotations?.['timeout.linkerd.io/request']);
    assert.equal(annotations['retry.linkerd.io/grpc'], 'unavailable');
    assert.equal(annotations['retry.linkerd.io/limit'], '1');
    assert.equal(annotations['retry.linkerd.io/http'], undefined, 'HTTP retries do not apply to gRPC calls');
    assert.deepEqual(route.spec.rules.flatMap((r: { backendRefs: unknown[] }) => r.backendRefs), [{ name: APP, port: 8081 }]);
  });

  test('with the canary component, gRPC calls are split between stable and canary with the HTTP weights', () => {
    const grpcRoute = find(canary, 'GRPCRoute', `${APP}-grpc`);
    const httpRoute = find(canary, 'HTTPRoute', `${APP}-canary`);
    const weights = (route: K8sObject) =>
      Object.fromEntries((route.spec.rules.flatMap((r: { backendRefs: unknown[] }) => r.backendRefs) as { name: string; weight: number }[]).map((b) => [b.name, b.weight]));
    assert.deepEqual(weights(grpcRoute), weights(httpRoute));
    for (const b of grpcRoute.spec.rules[0].backendRefs as { name: string; port: number }[]) {
      assert.equal(b.port, 8081);
      assert.ok(find(canary, 'Service', b.name).spec.ports.some((p: { port: number; name: string }) => p.port === 8081 && p.name === 'grpc'), b.name);
    }
    // The timeout and retries stay on the route.
    assert.equal(grpcRoute.metadata.annotations?.['retry.linkerd.io/grpc'], 'unavailable');
  });
});
