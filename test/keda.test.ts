// The opt-in autoscaling components: KEDA (k8s/components/autoscaling-keda) and the
// prometheus-adapter alternative (k8s/components/autoscaling-adapter). Each renders into the
// production overlay, validates, leaves exactly one autoscaler on the Deployment, and scales on a
// query that uses only metrics the service exports, checked with promtool as the alert rules are.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from './helpers/node-test.ts';
import { Ajv } from 'ajv';
import { parse, stringify } from 'yaml';
import { createMetrics } from '../src/metrics.ts';
import { CPU_BACKSTOP_UTILIZATION, INFLIGHT_TARGET } from '../bench/capacity/policies.ts';
import { promtool, requirePromtool } from './fixtures/alerts/rules.ts';
import { find, type K8sObject, ofKind, render, renderEditedProduction, repoRoot, schemaDir, skipWithoutSchemas, unknownFieldErrors, validateObject } from './helpers/k8s.ts';

const APP = 'linkerd-service-mesh-machine-learning-pi';
const withComponent = (name: string) =>
  renderEditedProduction((k) => {
    k.components = [...((k.components as string[] | undefined) ?? []), `../../components/${name}`];
  });
const production = render(join(repoRoot, 'k8s/overlays/production'));
const keda = withComponent('autoscaling-keda');
const adapter = withComponent('autoscaling-adapter');
const scaledObject = find(keda, 'ScaledObject', APP);
const adapterHpa = find(adapter, 'HorizontalPodAutoscaler', APP);
const adapterRules = parse(readFileSync(join(repoRoot, 'k8s/components/autoscaling-adapter/prometheus-adapter-rules.yaml'), 'utf8')).rules.custom as Array<{
  seriesQuery: string;
  name: { matches: string; as: string };
  metricsQuery: string;
}>;
const promTrigger = scaledObject.spec.triggers.find((t: { type: string }) => t.type === 'prometheus');
const kedaQuery: string = promTrigger.metadata.query;

const work = mkdtempSync(join(tmpdir(), 'meshserve-keda-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Autoscalers acting on the Deployment: HPAs pointing at it and ScaledObjects (which make one). */
function autoscalersOf(objects: K8sObject[]): string[] {
  return objects
    .filter((o) => (o.kind === 'HorizontalPodAutoscaler' || o.kind === 'ScaledObject') && o.spec.scaleTargetRef.name === APP)
    .map((o) => `${o.kind}/${o.metadata.name}`);
}

/** Metric names a PromQL expression selects: identifiers not called as functions, outside strings, braces and ranges. */
function metricNames(expr: string): string[] {
  const bare = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
    .replace(/\{[^}]*\}/g, '{}')
    .replace(/\[[^\]]*\]/g, '[]')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '');
  const keywords = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset']);
  return [...bare.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\()?/g)].filter((m) => !m[2] && !keywords.has(m[1]!)).map((m) => m[1]!);
}

/** Every series name the service's registry exports (histograms with their _bucket, _sum, _count). */
async function exportedSeries(): Promise<Set<string>> {
  const metrics = createMetrics();
  const names = new Set<string>();
  for (const m of await metrics.registry.getMetricsAsJSON()) {
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    else names.add(m.name);
  }
  return names;
}

/** The adapter's metricsQuery as the adapter runs it for pods of the production namespace. */
function adapterQuery(rule: (typeof adapterRules)[number]): string {
  const series = rule.seriesQuery.replace(/\{.*$/, '');
  return rule.metricsQuery
    .replaceAll('<<.Series>>', series)
    .replaceAll('<<.LabelMatchers>>', 'namespace="production",pod=~".+"')
    .replaceAll('<<.GroupBy>>', 'namespace, pod');
}

describe('k8s/components/autoscaling-keda', () => {
  test('the ScaledObject passes the KEDA CRD JSON schema', (t) => {
    const file = join(schemaDir, 'keda.sh/scaledobject_v1alpha1.json');
    if (skipWithoutSchemas(t, file, 'KEDA CRD')) return;
    const schema = JSON.parse(readFileSync(file, 'utf8'));
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    assert.ok(validate(scaledObject), JSON.stringify(validate.errors));
    const broken = structuredClone(scaledObject);
    broken.spec.triggers[0].metricTyp = 'AverageValue';
    assert.equal(validate(broken), false, 'a misspelt trigger field fails the schema');
  });

  test('every other object still validates, with no unknown fields', async () => {
    const others = keda.filter((o) => o.kind !== 'ScaledObject' && !o.apiVersion.includes('linkerd.io'));
    const errors: string[] = [];
    for (const o of others) errors.push(...(await validateObject(o)).errors);
    assert.deepEqual(errors, []);
    assert.deepEqual(unknownFieldErrors(others), []);
  });

  test('it replaces the HPA: one autoscaler on the Deployment, and the base HPA is gone', () => {
    assert.deepEqual(autoscalersOf(keda), [`ScaledObject/${APP}`]);
    assert.equal(ofKind(keda, 'HorizontalPodAutoscaler').length, 0);
    assert.notEqual(scaledObject.spec.advanced.horizontalPodAutoscalerConfig.name, APP, 'the HPA KEDA creates has its own name');
  });

  test('the production overlay keeps its CPU HPA when the component is not used', () => {
    assert.deepEqual(autoscalersOf(production), [`HorizontalPodAutoscaler/${APP}`]);
    assert.equal(ofKind(production, 'ScaledObject').length, 0);
  });

  test('scales the Deployment 3..20 on in-flight requests per pod, with CPU as the second trigger', () => {
    assert.equal(scaledObject.metadata.namespace, 'production');
    assert.deepEqual(scaledObject.spec.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: APP });
    assert.equal(scaledObject.spec.minReplicaCount, 3);
    assert.equal(scaledObject.spec.maxReplicaCount, 20);
    assert.deepEqual(
      scaledObject.spec.triggers.map((t: { type: string; metricType: string }) => [t.type, t.metricType]),
      [
        ['prometheus', 'AverageValue'],
        ['cpu', 'Utilization'],
      ],
    );
    assert.equal(scaledObject.spec.triggers[1].metadata.value, String(CPU_BACKSTOP_UTILIZATION), 'the CPU target is the one the capacity model simulates');
    assert.equal(Number(promTrigger.metadata.threshold), INFLIGHT_TARGET, 'the threshold is the one the capacity model simulates');
    assert.match(kedaQuery, /namespace="production"/, 'the query looks at the namespace the ScaledObject lives in');
  });

  test('behaviour: scale up at once by 100% or 4 pods per 15 s; scale down after 5 minutes, 2 pods a minute', () => {
    const b = scaledObject.spec.advanced.horizontalPodAutoscalerConfig.behavior;
    assert.equal(b.scaleUp.stabilizationWindowSeconds, 0);
    assert.deepEqual(b.scaleUp.policies, [
      { type: 'Percent', value: 100, periodSeconds: 15 },
      { type: 'Pods', value: 4, periodSeconds: 15 },
    ]);
    assert.equal(b.scaleDown.stabilizationWindowSeconds, 300);
    assert.deepEqual(b.scaleDown.policies, [{ type: 'Pods', value: 2, periodSeconds: 60 }]);
    assert.deepEqual(adapterHpa.spec.behavior, b, 'the adapter alternative behaves the same');
  });
});

describe('k8s/components/autoscaling-adapter', () => {
  test('one HPA on the Deployment, patched to a Pods metric plus CPU; it validates', async () => {
    assert.deepEqual(autoscalersOf(adapter), [`HorizontalPodAutoscaler/${APP}`]);
    assert.deepEqual((await validateObject(adapterHpa)).errors, []);
    assert.deepEqual(unknownFieldErrors([adapterHpa]), []);
    assert.equal(adapterHpa.spec.minReplicas, 3);
    assert.equal(adapterHpa.spec.maxReplicas, 20);
    assert.deepEqual(adapterHpa.spec.metrics, [
      { type: 'Pods', pods: { metric: { name: 'meshserve_inference_inflight' }, target: { type: 'AverageValue', averageValue: String(INFLIGHT_TARGET) } } },
      { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: CPU_BACKSTOP_UTILIZATION } } },
    ]);
  });

  test('the adapter rule serves the metric the HPA reads', () => {
    assert.deepEqual(
      adapterRules.map((r) => r.name.as),
      ['meshserve_inference_inflight'],
    );
    assert.match(adapterRules[0]!.seriesQuery, new RegExp(adapterRules[0]!.name.matches.replace(/^\^|\$$/g, '')));
  });
});

describe('the scaling queries use only metrics meshserve exports', () => {
  test('metricNames() finds selectors and skips functions, labels and keywords', () => {
    assert.deepEqual(metricNames('sum by (pod) (rate(a_total{x="rate(b)"}[1m])) / on (pod) c'), ['a_total', 'c']);
  });

  test('KEDA query and adapter query name only exported series', async () => {
    const exported = await exportedSeries();
    for (const q of [kedaQuery, ...adapterRules.map(adapterQuery)]) {
      const names = metricNames(q);
      assert.ok(names.length > 0, q);
      for (const n of names) assert.ok(exported.has(n), `${n} (in ${q}) is not exported by src/metrics.ts`);
    }
  });

  test('promtool check rules accepts both queries', (t) => {
    if (!requirePromtool(t)) return;
    const file = join(work, 'check.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'autoscaling', rules: rulesFile() }] }));
    const res = promtool(['check', 'rules', file]);
    assert.equal(res.status, 0, res.output);
  });

  test('promtool test rules: the queries give requests in flight of stable pods only', (t) => {
    if (!requirePromtool(t)) return;
    writeFileSync(join(work, 'autoscaling-rules.yaml'), stringify({ groups: [{ name: 'autoscaling', rules: rulesFile() }] }));
    // Summed durations growing by 180 s and 300 s a minute: 3 and 5 requests in flight on average.
    // A canary pod and a pod of another namespace must not count.
    const series = (pod: string, perMinute: number, namespace = 'production') => ({
      series: `meshserve_inference_duration_seconds_sum{namespace="${namespace}",pod="${pod}",model="mlp",version="1"}`,
      values: `0+${perMinute}x20`,
    });
    const tests = {
      rule_files: ['autoscaling-rules.yaml'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            series(`${APP}-7d9f8c6b5-x2k4q`, 180),
            series(`${APP}-7d9f8c6b5-p8zrm`, 300),
            series(`${APP}-canary-6c8b9d7f4-q5w2t`, 6000),
            series(`${APP}-7d9f8c6b5-aaaaa`, 6000, 'staging'),
          ],
          promql_expr_test: [
            { expr: 'keda:inflight', eval_time: '10m', exp_samples: [{ labels: 'keda:inflight', value: 8 }] },
            {
              expr: 'adapter:inflight{pod!~".*canary.*"}',
              eval_time: '10m',
              exp_samples: [
                { labels: `adapter:inflight{namespace="production",pod="${APP}-7d9f8c6b5-p8zrm"}`, value: 5 },
                { labels: `adapter:inflight{namespace="production",pod="${APP}-7d9f8c6b5-x2k4q"}`, value: 3 },
              ],
            },
          ],
        },
      ],
    };
    writeFileSync(join(work, 'autoscaling_test.yaml'), stringify(tests));
    const res = promtool(['test', 'rules', 'autoscaling_test.yaml'], work);
    assert.equal(res.status, 0, res.output);
  });
});

function rulesFile() {
  return [
    { record: 'keda:inflight', expr: kedaQuery },
    ...adapterRules.map((r) => ({ record: 'adapter:inflight', expr: adapterQuery(r) })),
  ];
}
