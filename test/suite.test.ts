// The suite's own rules, so a new test file cannot quietly escape them: `npm test` finds every test file at
// any depth; every test and hook gets the default timeout; processes are started only through the helper that
// kills them whatever happens.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ROOT, testFiles } from '../scripts/test-files.mjs';
import { test } from './helpers/node-test.ts';

function allFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(join(dir, e.name)) : [join(dir, e.name)]));
}
const TS = allFiles(join(ROOT, 'test')).filter((f) => f.endsWith('.ts')).map((f) => relative(ROOT, f));

test('npm test runs scripts/run-tests.mjs, which lists test files at any depth', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.test, 'node scripts/run-tests.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'meshserve-suite-'));
  try {
    for (const path of ['a.test.ts', 'one/b.test.ts', 'one/two/three/four/c.test.ts', 'one/helper.ts', 'one/d.test.ts.orig']) {
      mkdirSync(join(dir, path, '..'), { recursive: true });
      writeFileSync(join(dir, path), '');
    }
    assert.deepEqual(testFiles(dir).map((f: string) => relative(relative(ROOT, dir), f)), ['a.test.ts', 'one/b.test.ts', 'one/two/three/four/c.test.ts']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const found = testFiles();
  assert.ok(found.includes('test/suite.test.ts') && found.includes('test/hostile/http.test.ts') && found.includes('test/capacity/pod.test.ts'));
});

test('no file under test/ looks like a test but is named so that the runner would skip it', () => {
  const misnamed = allFiles(join(ROOT, 'test'))
    .map((f) => relative(ROOT, f))
    .filter((f) => /\.(test|tests|spec)\.[cm]?[jt]sx?$|_(test|spec)\.[cm]?[jt]sx?$/.test(f) && !f.endsWith('.test.ts'));
  assert.deepEqual(misnamed, []);
});

test('tests take node:test from helpers/node-test.ts, which gives every test and hook a timeout', () => {
  const direct = TS.filter((f) => f !== 'test/helpers/node-test.ts' && f !== 'test/suite.test.ts' && /from 'node:test'|require\('node:test'\)/.test(readFileSync(join(ROOT, f), 'utf8')));
  assert.deepEqual(direct, [], 'import { test, ... } from the helper instead');
});

test('processes are started only through helpers/process.ts, which kills them in after hooks and on exit', () => {
  // spawn, fork and exec must go through spawnTracked; execFile and the synchronous calls must carry a timeout.
  const offenders = TS.filter((f) => f !== 'test/helpers/process.ts' && f !== 'test/suite.test.ts').flatMap((f) => {
    const text = readFileSync(join(ROOT, f), 'utf8');
    const found: string[] = [];
    const imported = [...text.matchAll(/import\s*\{([^}]*)\}\s*from\s*'(?:node:)?child_process'/g)].flatMap((m) => m[1]!.split(',').map((n) => n.trim().split(/\s+as\s+/)[0]!));
    if (/from\s*'(?:node:)?child_process'/.test(text) && !/import\s*(type\s*)?\{/.test(text.match(/import[^;]*from\s*'(?:node:)?child_process'/)?.[0] ?? '')) found.push(`${f}: import the functions by name`);
    for (const name of imported.filter((n) => ['spawn', 'fork', 'exec'].includes(n))) found.push(`${f}: ${name} (use spawnTracked)`);
    for (const name of imported.filter((n) => ['execFile', 'spawnSync', 'execFileSync', 'execSync'].includes(n))) {
      for (const m of text.matchAll(new RegExp(`\\b${name}\\(`, 'g'))) {
        const call = text.slice(m.index, text.indexOf(');', m.index) + 1);
        if (!/\btimeout\b/.test(call)) found.push(`${f}: ${name} without a timeout`);
      }
    }
    return found;
  });
  assert.deepEqual(offenders, []);
});

test('the GitHub workflow runs .ci/run itself, and every job has a timeout', () => {
  const workflow = parseYaml(readFileSync(join(ROOT, '.github/workflows/ci.yml'), 'utf8')) as { jobs: Record<string, { 'timeout-minutes'?: number; steps: { run?: string }[] }> };
  for (const [name, job] of Object.entries(workflow.jobs)) assert.ok(Number(job['timeout-minutes']) > 0, `job ${name} has no timeout-minutes`);
  assert.ok(workflow.jobs.test!.steps.some((s) => s.run?.trim() === 'bash .ci/run'), 'the test job runs bash .ci/run');
  const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8');
  for (const step of ['npm ci', 'npm run typecheck', 'npm test', 'npm run image:test']) assert.match(ci, new RegExp(`^${step}\\b`, 'm'), `.ci/run runs ${step}`);
  assert.match(ci, /k8s-schemas[\s\S]*exit 1/, '.ci/run fails without the CRD schemas');
});
