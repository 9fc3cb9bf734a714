// The Makefile's operator targets do what the docs say: `make render > file` is valid YAML (make's echo of
// the command must not land in it), and `make status` shows the rollout, the HPA and the pods.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from './helpers/node-test.ts';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const make = (...args: string[]) => execFileSync('make', ['--no-print-directory', ...args], { timeout: 120_000, cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('make render prints only the manifests: its output parses as YAML, the Deployment included', () => {
  const out = make('render');
  assert.match(out.split('\n')[0]!, /^(apiVersion|kind):/, `first line: ${out.split('\n')[0]}`);
  const docs = parseAllDocuments(out);
  for (const doc of docs) assert.deepEqual(doc.errors, [], String(doc.errors[0]));
  const kinds = docs.map((d) => (d.toJS() as { kind?: string }).kind);
  assert.ok(kinds.includes('Deployment') && kinds.includes('HorizontalPodAutoscaler'), kinds.join(', '));
});

test('make status shows the rollout, the deployment and HPA, and the pods', () => {
  // -n prints the commands without running them (no cluster needed).
  const commands = make('-n', 'status', 'KUBECTL=kubectl');
  assert.match(commands, /rollout status deployment\/\S+ --watch=false/);
  assert.match(commands, /get deployment\/(\S+) hpa\/\1/);
  assert.match(commands, /get pods -l app=\S+ -o wide/);
});
