#!/usr/bin/env node
// `npm test`: node's test runner over every test file (scripts/test-files.mjs finds them at any depth), one
// file at a time. Arguments name files to run instead: `npm test -- test/batcher.test.ts`.
//
// Timeouts: each test and hook has its own (test/helpers/node-test.ts); --test-timeout is only a backstop
// for a whole file (its process is then sent SIGTERM, and test/helpers/process.ts kills whatever it started
// before exiting), so a test that timed out and left something running ends in a failure, not a hang.
// No --test-force-exit: on Node 20 it can end a file's process before its report is written out, and the
// tests whose lines were cut off then vanish from the count instead of failing (seen with test/k8s.test.ts).
import { spawn } from 'node:child_process';
import { ROOT, testFiles } from './test-files.mjs';

const FILE_TIMEOUT_MS = Number(process.env.TEST_FILE_TIMEOUT_MS) || 20 * 60_000;

const args = process.argv.slice(2);
const files = args.length > 0 ? args : testFiles();
if (files.length === 0) {
  console.error('run-tests: no test files found under test/');
  process.exit(1);
}

const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', `--test-timeout=${FILE_TIMEOUT_MS}`, ...files], { cwd: ROOT, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
