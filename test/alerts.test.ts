import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, test } from './helpers/node-test.ts';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { parse } from 'yaml';
import {
  FIXTURES_DIR,
  PLAIN_RULES_NAME,
  ROOT,
  RULE_FILE,
  allRules,
  loadPrometheusRule,
  promtool,
  renderComponent,
  requirePromtool,
  writePlainRules,
} from './fixtures/alerts/rules.ts';

const work = mkdtempSync(path.join(tmpdir(), 'meshserve-alerts-'));
after(() => rmSync(work, { recursive: true, force: true }));

const unitTestFiles = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith('_test.yaml')).sort();

/** Copies the unit tests next to a plain rules file made from `ruleText` and runs them. */
function runUnitTests(dir: string, ruleText?: string) {
  writePlainRules(path.join(dir, PLAIN_RULES_NAME), ruleText === undefined ? undefined : loadPrometheusRule(ruleText));
  for (const f of unitTestFiles) copyFileSync(path.join(FIXTURES_DIR, f), path.join(dir, f));
  return promtool(['test', 'rules', ...unitTestFiles], dir);
}

function githubSlug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');
}

describe('PrometheusRule in k8s/components/observability', () => {
  test('is a valid monitoring.coreos.com/v1 PrometheusRule', () => {
    const doc = loadPrometheusRule();
    assert.equal(doc.kind, 'PrometheusRule');
    assert.equal(doc.apiVersion, 'monitoring.coreos.com/v1');
    assert.doesNotThrow(() => new PrometheusRule(doc as any).validate());
  });

  test('is part of the rendered component, in the overlay namespace', () => {
    const dir = mkdtempSync(path.join(work, 'render-'));
    const rule = renderComponent(dir).find((d) => d.kind === 'PrometheusRule');
    assert.ok(rule, 'kubectl kustomize output has a PrometheusRule');
    assert.equal(rule.metadata.namespace, 'production');
    assert.deepEqual(rule.spec, loadPrometheusRule().spec);
  });

  test('promtool check rules accepts its groups', (t) => {
    if (!requirePromtool(t)) return;
    const file = path.join(work, 'check-rules.yaml');
    writePlainRules(file);
    const res = promtool(['check', 'rules', file]);
    assert.equal(res.status, 0, res.output);
    assert.match(res.output, new RegExp(`SUCCESS: ${allRules().length} rules found`));
  });

  test('promtool test rules: every alert fires on its input series and stays quiet where it must', (t) => {
    if (!requirePromtool(t)) return;
    assert.ok(unitTestFiles.length >= 2, `unit-test files in ${FIXTURES_DIR}`);
    const res = runUnitTests(mkdtempSync(path.join(work, 'unit-')));
    assert.equal(res.status, 0, res.output);
  });

  test('the unit tests cover every alert with a firing case and a quiet case', () => {
    const firing = new Set<string>();
    const quiet = new Set<string>();
    for (const f of unitTestFiles) {
      const doc = parse(readFileSync(path.join(FIXTURES_DIR, f), 'utf8'));
      assert.deepEqual(doc.rule_files, [PLAIN_RULES_NAME], `${f} reads the extracted rules`);
      for (const group of doc.tests) {
        for (const c of group.alert_rule_test ?? []) {
          (c.exp_alerts?.length ? firing : quiet).add(c.alertname);
        }
      }
    }
    for (const rule of allRules().filter((r) => r.alert)) {
      assert.ok(firing.has(rule.alert!), `${rule.alert} has a case where it fires`);
      assert.ok(quiet.has(rule.alert!), `${rule.alert} has a case where it must not fire`);
    }
  });

  const mutations: Array<[string, string, string, string]> = [
    ['fast-burn threshold loosened to 30x', '> (14.4 * 0.001)', '> (30 * 0.001)', 'MeshserveErrorBudgetFastBurn'],
    ['fast-burn threshold tightened to 5x', '> (14.4 * 0.001)', '> (5 * 0.001)', 'MeshserveErrorBudgetFastBurn'],
    ['probe routes counted as errors', 'route!~"/healthz|/ready|/v2/health/.+|/v2/models/.+/ready"', 'route!=""', 'MeshserveErrorBudgetFastBurn'],
    ['latency threshold raised to 5s', 'p99_rate5m > 1', 'p99_rate5m > 5', 'MeshserveHighInferenceLatency'],
    ['queue threshold raised to 90%', 'meshserve_inference_queue_capacity > 0.8', 'meshserve_inference_queue_capacity > 0.9', 'MeshserveQueueNearlyFull'],
    ['restarts counted for every container', 'container="meshserve", ', '', 'MeshservePodRestarting'],
    ['proxy port counted as the metrics target', 'instance=~".+:9090"} == 0', 'instance=~".+"} == 0', 'MeshserveTargetDown'],
    ['drift threshold raised to 3 stds', 'feature_shift_stddevs:rate1h) > 2', 'feature_shift_stddevs:rate1h) > 3', 'MeshserveFeatureDrift'],
    ['drift on the signed shift only (negative drift missed)', 'abs(meshserve:feature_shift_stddevs:rate1h)', '(meshserve:feature_shift_stddevs:rate1h)', 'MeshserveFeatureDrift'],
    ['drift without the minimum of 100 values', 'increase(meshserve_feature_observations_total[1h])) >= 100', 'increase(meshserve_feature_observations_total[1h])) >= 0', 'MeshserveFeatureDrift'],
    ['negative values added instead of subtracted', '-\n              sum by (namespace, model, version, feature) (rate(meshserve_feature_sum_total{sign="negative"}', '+\n              sum by (namespace, model, version, feature) (rate(meshserve_feature_sum_total{sign="negative"}', 'MeshserveFeatureDrift'],
    ['prediction mix threshold raised to 40 points', 'meshserve_prediction_reference_ratio)) > 0.25', 'meshserve_prediction_reference_ratio)) > 0.4', 'MeshservePredictionMixShift'],
    ['prediction mix threshold lowered to 10 points', 'meshserve_prediction_reference_ratio)) > 0.25', 'meshserve_prediction_reference_ratio)) > 0.1', 'MeshservePredictionMixShift'],
    ['prediction mix without the minimum of 100 predictions', 'increase(meshserve_predictions_total[1h])) >= 100', 'increase(meshserve_predictions_total[1h])) >= 0', 'MeshservePredictionMixShift'],
  ];
  for (const [what, from, to, alert] of mutations) {
    test(`the unit tests catch a broken rule: ${what}`, (t) => {
      if (!requirePromtool(t)) return;
      const original = readFileSync(RULE_FILE, 'utf8');
      assert.ok(original.includes(from), `rule text contains ${from}`);
      const res = runUnitTests(mkdtempSync(path.join(work, 'mutant-')), original.split(from).join(to));
      assert.notEqual(res.status, 0, `promtool test rules should fail:\n${res.output}`);
      assert.match(res.output, new RegExp(`alertname: ${alert}`));
    });
  }

  test('every alert has a severity, a summary, a description and a runbook link into docs/observability.md', () => {
    const docs = readFileSync(path.join(ROOT, 'docs/observability.md'), 'utf8');
    const anchors = new Set([...docs.matchAll(/^#{1,6} (.+)$/gm)].map((m) => githubSlug(m[1]!)));
    const alerts = allRules().filter((r) => r.alert);
    assert.ok(alerts.length >= 9);
    for (const rule of alerts) {
      assert.match(rule.labels?.severity ?? '', /^(critical|warning)$/, `${rule.alert} severity`);
      assert.ok(rule.annotations?.summary, `${rule.alert} summary`);
      assert.ok(rule.annotations?.description, `${rule.alert} description`);
      const url = rule.annotations?.runbook_url ?? '';
      const [page, anchor] = url.split('#');
      assert.ok(page?.endsWith('/docs/observability.md'), `${rule.alert} runbook_url points at docs/observability.md: ${url}`);
      assert.ok(anchor && anchors.has(anchor), `${rule.alert} runbook anchor #${anchor} is a heading in docs/observability.md`);
    }
  });

  test('alert and record names are unique', () => {
    const names = allRules().map((r) => r.alert ?? r.record);
    assert.deepEqual(names, [...new Set(names)]);
  });
});
