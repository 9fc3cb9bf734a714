// The Kubernetes delivery, checked offline: every overlay renders with `kubectl kustomize`,
// every rendered object validates, and the production workload is what DESIGN.md promises.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, test } from './helpers/node-test.ts';
import { parse } from 'yaml';
import {
  type Client,
  decide,
  find,
  type K8sObject,
  ofKind,
  render,
  renderProductionWithCanary,
  repoRoot,
  schemaDir,
  skipWithoutSchemas,
  unknownFieldErrors,
  validateObject,
} from './helpers/k8s.ts';

const APP = 'linkerd-service-mesh-machine-learning-pi';
const production = render(join(repoRoot, 'k8s/overlays/production'));
const dev = render(join(repoRoot, 'k8s/overlays/dev'));
const canary = renderProductionWithCanary();
const renders: Record<string, K8sObject[]> = { production, dev, 'production + canary': canary };

const deployment = find(production, 'Deployment', APP);
const podSpec = deployment.spec.template.spec;
const container = podSpec.containers.find((c: { name: string }) => c.name === 'meshserve');
const podAnnotations: Record<string, string> = deployment.spec.template.metadata.annotations;
const configOf = (objects: K8sObject[], d: K8sObject): Record<string, string> => {
  const ref = d.spec.template.spec.containers[0].envFrom[0].configMapRef.name;
  return find(objects, 'ConfigMap', ref).data ?? {};
};
const config = configOf(production, deployment);

const kubelet: Client = { ip: '10.0.3.7' };
const listedClient: Client = { ip: '10.244.1.20', serviceAccount: { name: 'meshserve-client', namespace: 'production' } };
const otherMeshed: Client = { ip: '10.244.1.21', serviceAccount: { name: 'default', namespace: 'production' } };
const prometheus: Client = { ip: '10.244.2.30', serviceAccount: { name: 'prometheus', namespace: 'linkerd-viz' } };

function podOf(objects: K8sObject[], d: K8sObject, namespace: string) {
  return { namespace, labels: d.spec.template.metadata.labels, ports: d.spec.template.spec.containers[0].ports };
}

describe('every object rendered from every overlay is valid', () => {
  for (const [name, objects] of Object.entries(renders)) {
    test(`${name}: built-in, prometheus-operator and gateway API kinds pass kubernetes-models`, async () => {
      const errors: string[] = [];
      for (const o of objects) {
        const v = await validateObject(o);
        errors.push(...v.errors);
      }
      assert.deepEqual(errors, []);
    });

    test(`${name}: Linkerd kinds pass the Linkerd CRD JSON schemas`, async (t) => {
      if (skipWithoutSchemas(t, schemaDir, 'Linkerd CRD')) return;
      const linkerd = objects.filter((o) => o.apiVersion.includes('linkerd.io'));
      assert.ok(linkerd.length >= 9, 'expected the Linkerd policy objects');
      for (const o of linkerd) {
        const v = await validateObject(o);
        assert.equal(v.validator, 'json-schema');
        assert.deepEqual(v.errors, []);
      }
    });
  }

  test('an object of a kind no validator knows fails validation instead of passing unchecked', async () => {
    await assert.rejects(validateObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), /no validator/);
    await assert.rejects(validateObject({ apiVersion: 'apps/v1', kind: 'Deploymint', metadata: { name: 'w' } }), /no validator/);
  });

  test('a misspelt field is caught (kubernetes-models alone would accept it)', () => {
    const typo = structuredClone(deployment);
    typo.spec.template.spec.containers[0].livenessProbe.initialDelaySecond = 15;
    assert.equal(unknownFieldErrors([typo]).length, 1);
  });

  test('no rendered object has a field its Kubernetes type does not define', () => {
    assert.deepEqual(unknownFieldErrors([...production, ...dev, ...canary]), []);
  });
});

describe('production overlay: the values of DESIGN.md', () => {
  test('everything lands in namespace production', () => {
    for (const o of production) {
      if (o.kind === 'Namespace') assert.equal(o.metadata.name, 'production');
      else assert.equal(o.metadata.namespace, 'production', `${o.kind}/${o.metadata.name}`);
    }
  });

  test('Deployment: 3 replicas, rolling update with maxSurge 1 and maxUnavailable 0', () => {
    assert.equal(deployment.spec.replicas, 3);
    assert.deepEqual(deployment.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  });

  test('container ports 8080, 8081 (gRPC) and 9090, requests 250m/256Mi, limits 1000m/1Gi', () => {
    assert.deepEqual(container.ports.map((p: { containerPort: number }) => p.containerPort).sort(), [8080, 8081, 9090]);
    assert.deepEqual(container.resources, { requests: { cpu: '250m', memory: '256Mi' }, limits: { cpu: '1000m', memory: '1Gi' } });
  });

  test('liveness GET /healthz:8080 (15 s, every 10 s); readiness GET /ready:8080 (5 s, every 5 s)', () => {
    assert.deepEqual(container.livenessProbe.httpGet, { path: '/healthz', port: 8080 });
    assert.equal(container.livenessProbe.initialDelaySeconds, 15);
    assert.equal(container.livenessProbe.periodSeconds, 10);
    assert.deepEqual(container.readinessProbe.httpGet, { path: '/ready', port: 8080 });
    assert.equal(container.readinessProbe.initialDelaySeconds, 5);
    assert.equal(container.readinessProbe.periodSeconds, 5);
  });

  test('Service: ClusterIP, port 80 reaches container port 8080, metrics port 9090 reaches 9090', () => {
    const svc = find(production, 'Service', APP);
    assert.equal(svc.spec.type, 'ClusterIP');
    const target = (port: number) => {
      const p = svc.spec.ports.find((x: { port: number }) => x.port === port);
      const t = p.targetPort;
      return typeof t === 'number' ? t : container.ports.find((c: { name: string }) => c.name === t)?.containerPort;
    };
    assert.equal(target(80), 8080);
    assert.equal(target(9090), 9090);
    assert.ok(selectsPod(svc.spec.selector, deployment.spec.template.metadata.labels));
  });

  test('HPA scales the Deployment from 3 to 20 replicas at 70% CPU', () => {
    const hpa = find(production, 'HorizontalPodAutoscaler', APP);
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: APP });
    assert.equal(hpa.spec.minReplicas, 3);
    assert.equal(hpa.spec.maxReplicas, 20);
    assert.deepEqual(hpa.spec.metrics, [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
  });

  test('pod template is Linkerd-injected and annotated for scraping on 9090', () => {
    assert.equal(podAnnotations['linkerd.io/inject'], 'enabled');
    assert.equal(podAnnotations['prometheus.io/scrape'], 'true');
    assert.equal(podAnnotations['prometheus.io/port'], '9090');
    assert.equal(podAnnotations['prometheus.io/path'], '/metrics');
  });

  test('a PodMonitor scrapes the metrics port of stable and canary pods', () => {
    const pm = find(production, 'PodMonitor', APP);
    assert.deepEqual(pm.spec.podMetricsEndpoints.map((e: { port: string }) => e.port), ['metrics']);
    assert.ok(selectsPod(pm.spec.selector.matchLabels, deployment.spec.template.metadata.labels));
    const canaryPods = find(canary, 'Deployment', `${APP}-canary`).spec.template.metadata.labels;
    assert.ok(selectsPod(pm.spec.selector.matchLabels, canaryPods));
  });

  test('the observability component is included (PrometheusRule and dashboard rendered)', () => {
    const k = parse(readFileSync(join(repoRoot, 'k8s/overlays/production/kustomization.yaml'), 'utf8'));
    assert.ok(k.components.includes('../../components/observability'));
    assert.ok(ofKind(production, 'PrometheusRule').length >= 1);
  });

  test('the image is pinned by tag or digest, never :latest or untagged', () => {
    for (const [name, objects] of Object.entries(renders)) {
      for (const d of ofKind(objects, 'Deployment')) {
        for (const c of d.spec.template.spec.containers) {
          assert.match(c.image, /^[a-z0-9.-]+(:\d+)?\/[a-z0-9._/-]+(:[A-Za-z0-9._-]+)?(@sha256:[a-f0-9]{64})?$/, `${name}: ${c.image}`);
          assert.match(c.image, /\/[^/]*(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})$/, `${name}: ${c.image} has neither tag nor digest`);
          assert.doesNotMatch(c.image, /:latest$/);
        }
      }
    }
  });
});

describe('configuration and graceful shutdown', () => {
  test('config comes from a hash-suffixed ConfigMap holding only variables the app reads, with DESIGN defaults', () => {
    const known = ['PORT', 'METRICS_PORT', 'HOST', 'MODEL_REPOSITORY', 'DEFAULT_MODEL', 'LOG_LEVEL', 'MAX_BATCH_SIZE', 'BATCH_DELAY_MS', 'MAX_QUEUE_SIZE', 'REQUEST_TIMEOUT_MS', 'BODY_LIMIT', 'SHUTDOWN_DELAY_MS', 'SHUTDOWN_TIMEOUT_MS', 'ORT_INTRA_OP_THREADS'];
    const ref = container.envFrom[0].configMapRef.name;
    assert.match(ref, new RegExp(`^${APP}-config-[a-z0-9]{10}$`));
    for (const key of Object.keys(config)) assert.ok(known.includes(key), `unknown variable ${key}`);
    assert.deepEqual(
      { ...config },
      { PORT: '8080', METRICS_PORT: '9090', HOST: '0.0.0.0', MODEL_REPOSITORY: '/app/models', LOG_LEVEL: 'info', MAX_BATCH_SIZE: '32', BATCH_DELAY_MS: '2', MAX_QUEUE_SIZE: '1024', REQUEST_TIMEOUT_MS: '10000', BODY_LIMIT: '16mb', SHUTDOWN_DELAY_MS: '5000', SHUTDOWN_TIMEOUT_MS: '25000', ORT_INTRA_OP_THREADS: '1' },
    );
  });

  test('a config change renames the ConfigMap, so the pods roll', () => {
    const changed = render(join(repoRoot, 'k8s/overlays/dev'));
    const a = find(production, 'Deployment', APP).spec.template.spec.containers[0].envFrom[0].configMapRef.name;
    const b = find(changed, 'Deployment', APP).spec.template.spec.containers[0].envFrom[0].configMapRef.name;
    assert.notEqual(a, b, 'dev changes LOG_LEVEL, so its ConfigMap name must differ');
  });

  test('the grace period covers preStop + SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS', () => {
    const preStop = container.lifecycle.preStop.sleep.seconds as number;
    const needed = preStop + (Number(config.SHUTDOWN_DELAY_MS) + Number(config.SHUTDOWN_TIMEOUT_MS)) / 1000;
    assert.ok(podSpec.terminationGracePeriodSeconds > needed, `${podSpec.terminationGracePeriodSeconds} s <= ${needed} s`);
  });

  test('the Linkerd proxy runs as a native sidecar, so it outlives the draining app', () => {
    assert.equal(podAnnotations['config.beta.linkerd.io/proxy-enable-native-sidecar'], 'true');
    assert.equal(podAnnotations['config.alpha.linkerd.io/proxy-enable-native-sidecar'], 'true');
    assert.equal(podAnnotations['config.alpha.linkerd.io/proxy-wait-before-exit-seconds'], undefined, 'not with native sidecars');
  });

  test('the proxy has CPU and memory requests and limits (the HPA needs a request on every container)', () => {
    for (const key of ['proxy-cpu-request', 'proxy-cpu-limit', 'proxy-memory-request', 'proxy-memory-limit']) {
      assert.ok(podAnnotations[`config.linkerd.io/${key}`], key);
    }
  });

  test('/tmp is a writable emptyDir on the read-only root filesystem', () => {
    const mount = container.volumeMounts.find((m: { mountPath: string }) => m.mountPath === '/tmp');
    const volume = podSpec.volumes.find((v: { name: string }) => v.name === mount.name);
    assert.ok(volume.emptyDir);
  });

  test('pods spread across nodes and zones; a PDB keeps all but one available', () => {
    const keys = podSpec.topologySpreadConstraints.map((c: { topologyKey: string }) => c.topologyKey).sort();
    assert.deepEqual(keys, ['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const c of podSpec.topologySpreadConstraints) assert.ok(selectsPod(c.labelSelector.matchLabels, deployment.spec.template.metadata.labels));
    const pdb = find(production, 'PodDisruptionBudget', APP);
    assert.equal(pdb.spec.maxUnavailable, 1);
    assert.ok(selectsPod(pdb.spec.selector.matchLabels, deployment.spec.template.metadata.labels));
  });
});

describe('security context', () => {
  test('non-root with UID >= 10000, seccomp RuntimeDefault', () => {
    assert.equal(podSpec.securityContext.runAsNonRoot, true);
    assert.ok(podSpec.securityContext.runAsUser >= 10000);
    assert.ok(podSpec.securityContext.runAsGroup >= 10000);
    assert.equal(podSpec.securityContext.seccompProfile.type, 'RuntimeDefault');
  });

  test('read-only root filesystem, no privilege escalation, all capabilities dropped', () => {
    assert.equal(container.securityContext.readOnlyRootFilesystem, true);
    assert.equal(container.securityContext.allowPrivilegeEscalation, false);
    assert.deepEqual(container.securityContext.capabilities.drop, ['ALL']);
    assert.equal(container.securityContext.privileged, undefined);
  });

  test('no Kubernetes API token is mounted into the app', () => {
    assert.equal(podSpec.automountServiceAccountToken, false);
    assert.equal(find(production, 'ServiceAccount', podSpec.serviceAccountName).automountServiceAccountToken, false);
  });
});

describe('Linkerd policy: who may call what (production)', () => {
  const pod = podOf(production, deployment, 'production');
  const ask = (port: number, method: string, path: string, client: Client) => decide(production, pod, port, method, path, client);

  test('both ports have a Server that denies by default', () => {
    for (const s of ofKind(production, 'Server', 'policy.linkerd.io')) assert.equal(s.spec.accessPolicy ?? 'deny', 'deny');
    assert.notEqual(ask(8080, 'GET', '/nothing', otherMeshed), 'no-server');
    assert.notEqual(ask(9090, 'GET', '/metrics', otherMeshed), 'no-server');
  });

  test('kubelet probes on /healthz and /ready are authorized', () => {
    assert.equal(ask(8080, 'GET', '/healthz', kubelet), 'allow');
    assert.equal(ask(8080, 'GET', '/ready', kubelet), 'allow');
  });

  test('inference is allowed for the listed ServiceAccount on every inference route', () => {
    for (const [method, path] of [['POST', '/predict'], ['POST', '/v1/models/iris:predict'], ['POST', '/v2/models/iris/infer'], ['POST', '/v2/models/iris/versions/1/infer'], ['GET', '/v2/models/iris'], ['GET', '/v2']]) {
      assert.equal(ask(8080, method!, path!, listedClient), 'allow', `${method} ${path}`);
    }
  });

  test('inference is denied to unlisted meshed clients, unmeshed callers and Prometheus', () => {
    for (const client of [otherMeshed, kubelet, prometheus, { ip: '10.244.9.9', serviceAccount: { name: 'meshserve-client', namespace: 'elsewhere' } }]) {
      assert.equal(ask(8080, 'POST', '/predict', client), 'deny', JSON.stringify(client));
      assert.equal(ask(8080, 'POST', '/v2/models/iris/infer', client), 'deny', JSON.stringify(client));
    }
  });

  test('metrics are allowed for Prometheus only', () => {
    assert.equal(ask(9090, 'GET', '/metrics', prometheus), 'allow');
    assert.equal(ask(9090, 'GET', '/metrics', { ip: '10.244.2.31', serviceAccount: { name: 'prometheus-k8s', namespace: 'monitoring' } }), 'allow');
    for (const client of [listedClient, otherMeshed, kubelet]) assert.equal(ask(9090, 'GET', '/metrics', client), 'deny');
  });

  test('the /docs page and its assets are allowed to the same clients, and nothing beside them', () => {
    for (const path of ['/docs', '/docs/', '/docs/swagger-ui-bundle.js', '/docs/swagger-ui.css', '/docs/init.js', '/openapi.json']) {
      assert.equal(ask(8080, 'GET', path, listedClient), 'allow', path);
      assert.equal(ask(8080, 'GET', path, otherMeshed), 'deny', path);
    }
    for (const [method, path] of [['GET', '/docsx'], ['GET', '/docs.json'], ['POST', '/docs'], ['PUT', '/docs/init.js']]) {
      assert.equal(ask(8080, method!, path!, listedClient), 'deny', `${method} ${path}`);
    }
  });

  test('requests to paths no route lists are refused', () => {
    assert.equal(ask(8080, 'GET', '/admin', listedClient), 'deny');
    assert.equal(ask(8080, 'POST', '/healthz', kubelet), 'deny');
  });

  test('every policy reference names an object that exists (Linkerd silently ignores dangling ones)', () => {
    const exists = (kind: string, name: string) => production.some((o) => o.kind === kind && o.metadata.name === name);
    for (const p of ofKind(production, 'AuthorizationPolicy')) {
      assert.ok(exists(p.spec.targetRef.kind, p.spec.targetRef.name), `${p.metadata.name} target`);
      for (const r of p.spec.requiredAuthenticationRefs) if (r.kind !== 'ServiceAccount') assert.ok(exists(r.kind, r.name), `${p.metadata.name} -> ${r.kind}/${r.name}`);
    }
    for (const r of ofKind(production, 'HTTPRoute', 'policy.linkerd.io')) {
      for (const ref of r.spec.parentRefs) assert.ok(exists(ref.kind, ref.name), `${r.metadata.name} parent`);
    }
  });

  test('each Server port is a named port of the pod', () => {
    const names = container.ports.map((p: { name: string }) => p.name);
    for (const s of ofKind(production, 'Server', 'policy.linkerd.io')) assert.ok(names.includes(s.spec.port), s.spec.port);
  });
});

describe('Linkerd retries and timeouts', () => {
  test('Service: request timeout a little above REQUEST_TIMEOUT_MS, one retry on gateway errors only', () => {
    const a = find(production, 'Service', APP).metadata.annotations ?? {};
    const timeoutMs = seconds(a['timeout.linkerd.io/request']!) * 1000;
    const appTimeout = Number(config.REQUEST_TIMEOUT_MS);
    assert.ok(timeoutMs > appTimeout && timeoutMs <= appTimeout * 1.5, `${timeoutMs} ms vs ${appTimeout} ms`);
    assert.equal(a['retry.linkerd.io/http'], 'gateway-error');
    assert.equal(a['retry.linkerd.io/limit'], '1');
  });

  test('the canary HTTPRoute repeats them (route annotations replace the Service\'s)', () => {
    const svc = find(canary, 'Service', APP).metadata.annotations ?? {};
    const route = find(canary, 'HTTPRoute', `${APP}-canary`).metadata.annotations ?? {};
    for (const key of ['timeout.linkerd.io/request', 'retry.linkerd.io/http', 'retry.linkerd.io/limit']) assert.equal(route[key], svc[key], key);
  });
});

describe('dev overlay', () => {
  const d = find(dev, 'Deployment', APP);

  test('one replica, no HPA, debug logs', () => {
    assert.equal(d.spec.replicas, 1);
    assert.equal(ofKind(dev, 'HorizontalPodAutoscaler').length, 0);
    assert.equal(configOf(dev, d).LOG_LEVEL, 'debug');
  });

  test('policy in audit mode: denied requests are let through and flagged', () => {
    for (const s of ofKind(dev, 'Server', 'policy.linkerd.io')) assert.equal(s.spec.accessPolicy, 'audit');
    assert.equal(d.spec.template.metadata.annotations['config.linkerd.io/default-inbound-policy'], 'audit');
    const ns = d.metadata.namespace ?? '';
    assert.equal(decide(dev, podOf(dev, d, ns), 8080, 'POST', '/predict', { ip: '10.1.1.1', serviceAccount: { name: 'default', namespace: ns } }), 'audit');
  });

  test('still meshed, with the same probes and security context as production', () => {
    const c = d.spec.template.spec.containers[0];
    assert.equal(d.spec.template.metadata.annotations['linkerd.io/inject'], 'enabled');
    assert.deepEqual(c.livenessProbe, container.livenessProbe);
    assert.deepEqual(c.readinessProbe, container.readinessProbe);
    assert.deepEqual(c.securityContext, container.securityContext);
  });
});

describe('canary component', () => {
  const stable = find(canary, 'Deployment', APP);
  const next = find(canary, 'Deployment', `${APP}-canary`);

  test('the canary runs the new image in its own Deployment with otherwise the same pod', () => {
    assert.equal(next.spec.template.spec.containers[0].image, 'ghcr.io/meshserve/meshserve:0.2.0');
    const strip = (d: K8sObject) => {
      const t = structuredClone(d.spec.template);
      delete t.metadata.labels.app;
      t.spec.containers[0].image = 'x';
      for (const c of t.spec.topologySpreadConstraints) delete c.labelSelector;
      return t;
    };
    assert.deepEqual(strip(next), strip(stable));
    assert.equal(next.metadata.namespace, 'production');
  });

  test('stable and canary Services each select only their own pods', () => {
    const svc = find(canary, 'Service', APP);
    const canarySvc = find(canary, 'Service', `${APP}-canary`);
    assert.ok(selectsPod(svc.spec.selector, stable.spec.template.metadata.labels));
    assert.ok(!selectsPod(svc.spec.selector, next.spec.template.metadata.labels));
    assert.ok(selectsPod(canarySvc.spec.selector, next.spec.template.metadata.labels));
    assert.ok(!selectsPod(canarySvc.spec.selector, stable.spec.template.metadata.labels));
    assert.ok(!selectsPod(stable.spec.selector.matchLabels, next.spec.template.metadata.labels), 'the stable Deployment must not adopt canary pods');
  });

  test('a gateway API HTTPRoute on the stable Service splits traffic by weight between the two', () => {
    const route = find(canary, 'HTTPRoute', `${APP}-canary`);
    assert.equal(route.apiVersion, 'gateway.networking.k8s.io/v1');
    assert.deepEqual(route.spec.parentRefs.map((r: { kind: string; name: string; port: number }) => [r.kind, r.name, r.port]), [['Service', APP, 80]]);
    const backends = route.spec.rules.flatMap((r: { backendRefs: unknown[] }) => r.backendRefs) as Array<{ name: string; port: number; weight: number }>;
    assert.deepEqual(backends.map((b) => b.name).sort(), [APP, `${APP}-canary`]);
    for (const b of backends) assert.ok(find(canary, 'Service', b.name).spec.ports.some((p: { port: number }) => p.port === b.port));
    const weights = Object.fromEntries(backends.map((b) => [b.name, b.weight]));
    assert.ok(weights[APP]! > weights[`${APP}-canary`]! && weights[`${APP}-canary`]! > 0);
  });

  test('canary pods get the same mesh policy: listed clients in, others out', () => {
    const pod = podOf(canary, next, 'production');
    assert.equal(decide(canary, pod, 8080, 'POST', '/predict', listedClient), 'allow');
    assert.equal(decide(canary, pod, 8080, 'POST', '/predict', otherMeshed), 'deny');
    assert.equal(decide(canary, pod, 8080, 'GET', '/ready', kubelet), 'allow');
    assert.equal(decide(canary, pod, 9090, 'GET', '/metrics', prometheus), 'allow');
  });
});

describe('Kustomize files use current syntax', () => {
  test('no deprecated fields (commonLabels, patchesStrategicMerge, patchesJson6902, bases, vars)', () => {
    const files = walk(join(repoRoot, 'k8s')).filter((f) => /(^|\/)kustomization\.ya?ml$/.test(f));
    assert.ok(files.length >= 5);
    for (const f of files) {
      const k = parse(readFileSync(f, 'utf8'));
      for (const key of ['commonLabels', 'patchesStrategicMerge', 'patchesJson6902', 'bases', 'vars']) {
        assert.equal(k[key], undefined, `${relative(repoRoot, f)} uses ${key}`);
      }
    }
  });
});

describe('Makefile acts on the production workload', () => {
  const dry = (target: string) => execFileSync('make', ['-n', '-C', repoRoot, target], { timeout: 120_000, encoding: 'utf8' });

  test('deploy applies the production overlay, then waits up to 300 s for the rollout', () => {
    const out = dry('deploy');
    assert.match(out, /kubectl apply -k k8s\/overlays\/production/);
    assert.match(out, new RegExp(`kubectl -n production rollout status deployment/${APP} --timeout=300s`));
  });

  test('rollback, status and logs target the same Deployment and pods', () => {
    assert.match(dry('rollback'), new RegExp(`kubectl -n production rollout undo deployment/${APP}`));
    assert.match(dry('status'), new RegExp(`kubectl -n production get pods -l app=${APP} -o wide`));
    const logs = dry('logs');
    assert.match(logs, new RegExp(`kubectl -n production logs -f -l app=${APP}`));
    assert.match(logs, /--tail=100/);
  });

  test('render prints the production manifests', () => {
    assert.match(dry('render'), /kubectl kustomize k8s\/overlays\/production/);
  });
});

function selectsPod(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

function seconds(duration: string): number {
  const m = /^(\d+)(ms|s|m)$/.exec(duration);
  assert.ok(m, `bad duration ${duration}`);
  return Number(m[1]) * { ms: 0.001, s: 1, m: 60 }[m[2] as 'ms' | 's' | 'm'];
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? walk(p) : [p];
  });
}
