import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from './helpers/node-test.ts';
import { stringify } from 'yaml';
import { createMetrics } from '../src/metrics.ts';
import { COMPONENT_DIR, allRules, promtool, renderComponent, requirePromtool } from './fixtures/alerts/rules.ts';

const DASHBOARD_FILE = path.join(COMPONENT_DIR, 'meshserve-dashboard.json');
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8'));

// Metrics scraped from elsewhere that the dashboard and rules may use.
const EXTERNAL_METRICS = new Set([
  'up', // Prometheus, per scrape target
  'request_total', // Linkerd proxy
  'response_total',
  'response_latency_ms_bucket',
  'response_latency_ms_sum',
  'response_latency_ms_count',
  'kube_pod_container_status_restarts_total', // kube-state-metrics
]);

const work = mkdtempSync(path.join(tmpdir(), 'meshserve-dashboard-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** Series names the service exposes, as Prometheus stores them (histograms split into three). */
async function exposedMetricNames(): Promise<Set<string>> {
  const { registry } = createMetrics();
  const names = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    names.add(m.name);
    if (String(m.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(m.name + s);
    if (String(m.type) === 'summary') for (const s of ['_sum', '_count']) names.add(m.name + s);
  }
  return names;
}

const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'atan2', 'inf', 'nan', 'group_left', 'group_right']);

/**
 * Metric names a PromQL expression selects. Not a full parser: it drops strings, label
 * matchers, ranges, grouping clauses and Grafana variables, then keeps the identifiers
 * that are neither keywords nor function calls.
 */
function metricNames(expr: string): string[] {
  const s = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/gi, ' ')
    .replace(/\$\{?\w+\}?/g, ' ');
  const names = new Set<string>();
  for (const m of s.matchAll(/(?<![\w.:])[a-zA-Z_:][\w:]*/g)) {
    const rest = s.slice(m.index + m[0].length).trimStart();
    if (rest.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue;
    names.add(m[0]);
  }
  return [...names];
}

interface Target {
  expr: string;
  datasource?: { type?: string; uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  targets?: Target[];
  panels?: Panel[];
}

function allPanels(panels: Panel[]): Panel[] {
  return panels.flatMap((p) => [p, ...allPanels(p.panels ?? [])]);
}
const panels = allPanels(dashboard.panels);
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ...t })));

/** Grafana `label_values(selector, label)` queries, reduced to their PromQL selector. */
const variableSelectors: string[] = dashboard.templating.list
  .filter((v: any) => v.type === 'query')
  .map((v: any) => {
    const q: string = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.+),\s*\w+\)$/.exec(q.trim());
    assert.ok(m, `variable ${v.name} uses label_values(selector, label): ${q}`);
    return m[1]!;
  });

/** Grafana fills these in before the query reaches Prometheus. */
function withVariablesFilledIn(expr: string): string {
  return expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$\{?\w+\}?/g, 'x');
}

describe('PromQL metric name extraction', () => {
  test('finds selected metrics and ignores functions, labels, grouping and variables', () => {
    const expr =
      'sum by (model, outcome) (rate(a_total{model=~"$model", outcome!="success"}[$__rate_interval]))\n' +
      '/ ignoring (outcome) group_left sum(rate(b_bucket{le="+Inf"}[5m] offset 1h)) by (le) > bool 0.5e3' +
      ' and on (pod) rec:ord:rate5m unless absent(up{job="x"} == 1)';
    assert.deepEqual(metricNames(expr).sort(), ['a_total', 'b_bucket', 'rec:ord:rate5m', 'up']);
  });
});

describe('Grafana dashboard', () => {
  test('every PromQL expression in the dashboard and the rules selects only metrics that exist', async () => {
    const known = await exposedMetricNames();
    for (const rule of allRules()) if (rule.record) known.add(rule.record);
    for (const name of EXTERNAL_METRICS) known.add(name);
    const exprs = [
      ...targets.map((t) => ({ where: `dashboard panel "${t.panel}"`, expr: t.expr })),
      ...variableSelectors.map((expr) => ({ where: 'dashboard variable', expr })),
      ...allRules().map((r) => ({ where: `rule ${r.alert ?? r.record}`, expr: r.expr })),
    ];
    assert.ok(exprs.length > 20);
    for (const { where, expr } of exprs) {
      const names = metricNames(expr);
      assert.ok(names.length > 0, `${where} selects a metric: ${expr}`);
      for (const name of names) assert.ok(known.has(name), `${where} uses unknown metric ${name}`);
    }
  });

  test('every dashboard query is valid PromQL (promtool check rules)', (t) => {
    if (!requirePromtool(t)) return;
    const exprs = [...targets.map((t) => t.expr), ...variableSelectors];
    const rules = exprs.map((expr, i) => ({ record: `dashboard:query_${i}`, expr: withVariablesFilledIn(expr) }));
    const file = path.join(work, 'dashboard-queries.yaml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const res = promtool(['check', 'rules', file]);
    assert.equal(res.status, 0, res.output);
  });

  test('shows the golden signals per model and the Linkerd proxy view', () => {
    const used = new Set(targets.flatMap((t) => metricNames(t.expr)));
    for (const name of [
      'meshserve_inference_requests_total', // rate and errors
      'meshserve_inference_duration_seconds_bucket', // latency
      'meshserve_inference_batch_size_sum',
      'meshserve_inference_queue_depth',
      'meshserve_model_ready',
      'request_total',
      'response_total',
      'response_latency_ms_bucket',
    ]) {
      assert.ok(used.has(name), `a panel queries ${name}`);
    }
    const latency = targets.filter((t) => t.expr.includes('meshserve_inference_duration_seconds_bucket'));
    assert.ok(latency.some((t) => t.expr.includes('histogram_quantile(0.5,')), 'p50 latency');
    assert.ok(latency.some((t) => t.expr.includes('histogram_quantile(0.99,')), 'p99 latency');
  });

  test('shows the prediction mix and feature drift, per model', () => {
    const business = targets.filter((t) => /meshserve_(predictions|prediction_reference|feature)_|meshserve:feature_/.test(t.expr));
    const used = new Set(business.flatMap((t) => metricNames(t.expr)));
    for (const name of [
      'meshserve_predictions_total',
      'meshserve_prediction_reference_ratio',
      'meshserve_feature_sum_total',
      'meshserve_feature_observations_total',
      'meshserve_feature_reference_mean',
      'meshserve:feature_shift_stddevs:rate1h', // what MeshserveFeatureDrift compares with its threshold
    ]) {
      assert.ok(used.has(name), `a panel queries ${name}`);
    }
    for (const t of business) assert.match(t.expr, /model=~"\$model"/, `panel "${t.panel}" filters by $model`);
  });

  test('per-model panels follow the model variable', () => {
    const model = dashboard.templating.list.find((v: any) => v.name === 'model');
    assert.ok(model?.multi && model.includeAll, 'model variable allows several models and All');
    const perModel = targets.filter((t) => /meshserve_(inference|model)_/.test(t.expr));
    assert.ok(perModel.length >= 8);
    for (const t of perModel) assert.match(t.expr, /model=~"\$model"/, `panel "${t.panel}" filters by $model`);
  });

  test('uses the DS_PROMETHEUS data source variable everywhere, no hard-coded data source', () => {
    const ds = dashboard.templating.list.find((v: any) => v.name === 'DS_PROMETHEUS');
    assert.equal(ds?.type, 'datasource');
    assert.equal(ds?.query, 'prometheus');
    for (const p of panels.filter((p) => p.type !== 'row')) {
      assert.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `panel "${p.title}"`);
      for (const t of p.targets ?? []) assert.equal(t.datasource?.uid, '${DS_PROMETHEUS}', `target in "${p.title}"`);
    }
  });

  test('panel ids are unique (Grafana keys panel state on them)', () => {
    const ids = panels.map((p) => p.id);
    assert.deepEqual(ids, [...new Set(ids)]);
  });

  test('ships as a ConfigMap the Grafana sidecar picks up, holding the JSON unchanged', () => {
    const dir = mkdtempSync(path.join(work, 'render-'));
    const docs = renderComponent(dir);
    const cm = docs.find((d) => d.kind === 'ConfigMap');
    assert.ok(cm, 'kubectl kustomize output has a ConfigMap');
    assert.equal(cm.metadata.labels?.grafana_dashboard, '1');
    assert.equal(cm.metadata.namespace, 'production');
    assert.deepEqual(JSON.parse(cm.data['meshserve-dashboard.json']), dashboard);
  });
});
