// node:test with a default timeout on every test and hook. Node 20's --test-timeout bounds a whole file, and
// a file killed for it never runs its after hooks; a timeout per test fails just that test, runs its
// t.after and the file's after hooks (which stop any process it started), and the file goes on.
// Every test file imports from here instead of node:test (test/suite.test.ts checks that).
import * as nodeTest from 'node:test';
import type { HookOptions, TestOptions } from 'node:test';

const fromEnv = (name: string, fallback: number): number => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

/** A test that takes longer fails ("test timed out"); TEST_TIMEOUT_MS overrides it. Options given to a test win. */
export const TEST_TIMEOUT_MS = fromEnv('TEST_TIMEOUT_MS', 120_000);
/** Hooks build the service and start processes, so they get longer; HOOK_TIMEOUT_MS overrides it. */
export const HOOK_TIMEOUT_MS = fromEnv('HOOK_TIMEOUT_MS', 300_000);

type Fn = (...args: never[]) => unknown;

/** Wraps test/it (and .skip/.todo/.only) so options carry the default timeout unless they name one. */
function withTimeout<T extends Fn>(run: T): T {
  return ((...args: unknown[]) => {
    const name = typeof args[0] === 'string' ? args[0] : undefined;
    const options = args.find((a): a is TestOptions => typeof a === 'object' && a !== null);
    const fn = args.find((a) => typeof a === 'function');
    const merged: TestOptions = { timeout: TEST_TIMEOUT_MS, ...options };
    const call = run as unknown as (...a: unknown[]) => unknown;
    return name === undefined ? call(merged, fn) : call(name, merged, fn);
  }) as unknown as T;
}

function wrapTest<T extends typeof nodeTest.test>(base: T): T {
  const wrapped = withTimeout(base) as T;
  return Object.assign(wrapped, { skip: withTimeout(base.skip), todo: withTimeout(base.todo), only: withTimeout(base.only) });
}

function wrapHook<T extends typeof nodeTest.before>(hook: T): T {
  return ((fn: Parameters<T>[0], options?: HookOptions) => hook(fn, { timeout: HOOK_TIMEOUT_MS, ...options })) as T;
}

export const test = wrapTest(nodeTest.test);
export const it = wrapTest(nodeTest.it);
export const before = wrapHook(nodeTest.before);
export const after = wrapHook(nodeTest.after);
export const beforeEach = wrapHook(nodeTest.beforeEach);
export const afterEach = wrapHook(nodeTest.afterEach);
// A suite has no timeout of its own: each of its tests and hooks has one.
export const { describe, suite, mock } = nodeTest;
export type { TestContext } from 'node:test';
