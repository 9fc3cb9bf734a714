// meshserve load tests. Usage:
//   npm run bench                       full suite (~13 min): writes bench/results/latest.{json,md,svg}
//   npm run bench -- --quick            short runs to try things out: writes bench/results/tmp/quick.*
//   npm run bench -- soak [--minutes=5] steady load, RSS and heap over time: bench/results/soak.{json,md,svg}
//   npm run bench -- report [--name=latest] rewrites <name>.md and <name>.svg from <name>.json (no load)
// Options: --name=<name> (results file name), --runs=N, --seconds=S (per run), --no-build.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { suiteChart } from './lib/chart.ts';
import { log } from './lib/progress.ts';
import { goals, markdown, ratios } from './lib/report.ts';
import { ROOT } from './lib/service.ts';
import { runSoak, soakChart, soakMarkdown, type SoakResult } from './lib/soak.ts';
import { FULL, QUICK, runSuite, type SuiteResult } from './lib/suite.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    quick: { type: 'boolean', default: false },
    name: { type: 'string' },
    runs: { type: 'string' },
    seconds: { type: 'string' },
    minutes: { type: 'string' },
    'no-build': { type: 'boolean', default: false },
  },
});
const mode = positionals[0] ?? 'suite';
if (mode !== 'suite' && mode !== 'soak' && mode !== 'report') {
  process.stderr.write(`unknown mode "${mode}": use no argument for the suite, "soak" or "report"\n`);
  process.exit(2);
}

if (values.name !== undefined && !/^[\w.-]+$/.test(values.name)) {
  process.stderr.write(`--name may only hold letters, digits, "-", "_" and ".", got "${values.name}"\n`);
  process.exit(2);
}

function positive(text: string | undefined, what: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(n > 0)) {
    process.stderr.write(`${what} must be a positive number, got "${text}"\n`);
    process.exit(2);
  }
  return n;
}

if (!values['no-build'] && mode !== 'report') {
  log('building the service (npm run build)');
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: ROOT, stdio: 'inherit' });
  if (build.status !== 0) {
    process.stderr.write('npm run build failed; not benchmarking a stale dist/\n');
    process.exit(1);
  }
}

const outDir = path.join(ROOT, 'bench', 'results', values.quick ? 'tmp' : '');
mkdirSync(outDir, { recursive: true });
const write = (file: string, text: string) => {
  writeFileSync(path.join(outDir, file), text);
  log(`wrote ${path.relative(ROOT, path.join(outDir, file))}`);
};

if (mode === 'report') {
  const name = values.name ?? 'latest';
  if (name.endsWith('soak')) {
    const result = JSON.parse(readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as SoakResult;
    write(`${name}.md`, soakMarkdown(result));
    write(`${name}.svg`, await soakChart(result));
  } else {
    const result = JSON.parse(readFileSync(path.join(outDir, `${name}.json`), 'utf8')) as SuiteResult;
    write(`${name}.md`, markdown(result));
    write(`${name}.svg`, await suiteChart(result));
  }
} else if (mode === 'soak') {
  const minutes = positive(values.minutes, '--minutes') ?? (values.quick ? 0.5 : 5);
  const durationSec = Math.round(minutes * 60);
  const result = await runSoak({ durationSec, sampleEverySec: durationSec >= 120 ? 5 : 1, connections: 32, warmupSec: Math.min(60, durationSec / 5) });
  write('soak.json', `${JSON.stringify(result, null, 2)}\n`);
  write('soak.md', soakMarkdown(result));
  write('soak.svg', await soakChart(result));
} else {
  const base = values.quick ? QUICK : FULL;
  const options = { ...base, runs: positive(values.runs, '--runs') ?? base.runs, durationSec: positive(values.seconds, '--seconds') ?? base.durationSec };
  const name = values.name ?? (values.quick ? 'quick' : 'latest');
  const result = await runSuite(name, options);
  const summary = { ...result, ratios: ratios(result), goals: goals(result) };
  write(`${name}.json`, `${JSON.stringify(summary, null, 2)}\n`);
  write(`${name}.md`, markdown(result));
  write(`${name}.svg`, await suiteChart(result));
  process.stdout.write(`\n${markdown(result)}`);
}
