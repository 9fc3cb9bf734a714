// The capacity model. Usage:
//   npm run capacity                 validate, size, and simulate the traces under each policy:
//                                    writes bench/results/capacity.{json,md} and capacity-<trace>.svg
//   npm run capacity -- measure      measure one pod on one core (about 3 minutes):
//                                    writes bench/results/capacity-validation.json
//   npm run capacity -- validate     only the simulated vs measured table
// Options: --runs=N --seconds=S --no-build (measure); --seed=N (simulate).
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { log } from '../lib/progress.ts';
import { ROOT } from '../lib/service.ts';
import { PLATFORM, simulateCluster, type ClusterResult, type Platform } from './cluster.ts';
import { measure, VALIDATION_FILE, writeValidation } from './measure.ts';
import { POLICIES, type Policy } from './policies.ts';
import { calibrate, loadValidation, validate } from './profile.ts';
import { calibrationTable, comparisonTable, sizingTable, steadyTable, traceChart, validationTable } from './report.ts';
import { maxRatePerPod, runSteady } from './sizing.ts';
import { burst, diurnal, ramp, type Trace } from './traces.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '5' },
    seed: { type: 'string', default: '1' },
    'no-build': { type: 'boolean', default: false },
  },
});
const mode = positionals[0] ?? 'simulate';
const out = (name: string) => path.join(ROOT, 'bench/results', name);
const write = (name: string, text: string) => {
  writeFileSync(out(name), text);
  log(`wrote bench/results/${name}`);
};

if (mode === 'measure') {
  writeValidation(await measure({ runs: Number(values.runs), seconds: Number(values.seconds), build: !values['no-build'] }));
} else if (mode === 'validate' || mode === 'simulate') {
  const v = loadValidation(VALIDATION_FILE);
  const cal = calibrate(v);
  const rows = validate(v, cal);
  const md: string[] = [];
  md.push(`## Calibration (from ${path.relative(ROOT, VALIDATION_FILE)}, ${v.date.slice(0, 16)} UTC)\n`, calibrationTable(cal), '');
  md.push('## Validation: one pod on one core, simulated vs measured (MLP V2 binary, batching on)\n', validationTable(rows), '');
  process.stdout.write(`${md.join('\n')}\n`);
  if (mode === 'simulate') {
    const seed = Number(values.seed);
    const { profile, settings } = cal;
    log('sizing: highest req/s per pod at each p99 target');
    const progress = (what: string) => log(what);
    const targets = [25, 50, 100];
    const sizing = targets.map((target) => {
      const point = maxRatePerPod(profile, settings, target);
      progress(`p99 <= ${target} ms: ${Math.round(point.rate)} req/s per pod`);
      return { target, point };
    });
    const per50 = sizing[1]!.point.rate;
    const check = [1, 5, 10].map((n) => runSteady(profile, settings, n, Math.round(per50 * n * 0.9), seed));
    // 1,000 req/s keeps 3 pods well under their 50 ms rate; 10x needs several times as many.
    const base = 1000;
    const traces: Trace[] = [ramp(base), burst(base), diurnal(base, 24)];
    const results: ClusterResult[] = [];
    const titles: Record<string, string> = Object.fromEntries(POLICIES.map((p) => [p.name, p.title]));
    for (const trace of traces) {
      for (const policy of POLICIES) {
        const t0 = performance.now();
        const r = simulateCluster({ profile, settings, policy, trace, seed, p99Target: 0.05 });
        log(`${trace.name} / ${policy.name}: p99 ${r.p99.toFixed(1)} ms, ${r.rejectedPct.toFixed(2)}% failed, ${Math.round(r.podMinutes)} pod-minutes (${Math.round(performance.now() - t0)} ms, ${r.events} events)`);
        results.push(r);
      }
    }
    // What breaks first at 10x: the burst again with slower pods, slower metrics, and no tolerance for either.
    const keda = POLICIES.find((p) => p.name === 'keda-inflight')!;
    const variants: Array<[string, Policy, Platform]> = [
      ['pods start in 90 s (a new node)', keda, { ...PLATFORM, podStartup: 90 }],
      ['scrape 15 s, rate[1m]', keda, { ...PLATFORM, scrapeInterval: 15, rateWindow: 60 }],
      ['KEDA useCachedMetrics, pollingInterval 30 s', { ...keda, cachedPollingInterval: 30 }, PLATFORM],
      ['3 pods, no autoscaler', { ...keda, hpa: { ...keda.hpa, maxReplicas: 3 } }, PLATFORM],
    ];
    const sensitivity: ClusterResult[] = [];
    for (const [name, policy, platform] of variants) {
      const r = simulateCluster({ profile, settings, policy: { ...policy, name }, trace: burst(base), seed, platform, p99Target: 0.05 });
      log(`burst / ${name}: p99 ${r.p99.toFixed(1)} ms, ${r.rejectedPct.toFixed(2)}% failed`);
      sensitivity.push(r);
    }
    const charts: Record<string, string> = {};
    for (const trace of traces) {
      const file = `capacity-${trace.name}.svg`;
      write(file, await traceChart(results.filter((r) => r.trace === trace.name), `${trace.title}: offered load, pods and p99 per policy`));
      charts[trace.name] = file;
    }
    md.push(`## Sizing: one pod (1 CPU), steady Poisson load\n`, sizingTable(sizing), '');
    md.push(`## Check: pods behind the P2C balancer at 90% of the 50 ms per-pod rate\n`, steadyTable(check), '');
    md.push(`## Autoscaling policies on three traces (base ${base} req/s; seed ${seed})\n`, comparisonTable(results, titles, 0.05), '');
    md.push(`## The 10x burst under other platform settings (KEDA policy)\n`, comparisonTable(sensitivity, {}, 0.05), '');
    write('capacity.md', `# Capacity model results\n\nWritten by \`npm run capacity\`; see docs/capacity.md.\n\n${md.join('\n')}\n`);
    write(
      'capacity.json',
      `${JSON.stringify({ date: new Date().toISOString(), seed, base, platform: PLATFORM, calibration: cal, validation: rows.map(({ measured, ...r }) => ({ ...r, measured: { ...measured, runs: undefined } })), sizing, check, policies: POLICIES, results, sensitivity: sensitivity.map(({ timeline, ...r }) => r), charts }, null, 1)}\n`,
    );
    process.stdout.write(`${md.slice(4).join('\n')}\n`);
  }
} else {
  process.stderr.write(`unknown mode "${mode}": use no argument, "measure" or "validate"\n`);
  process.exit(2);
}
