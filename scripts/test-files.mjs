// The suite's files: every *.test.ts under test/, at any depth, in a stable order. Node 20 expands no globs
// itself and a shell glob names one depth at a time, so the runner and test/suite.test.ts both list from here.
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Paths relative to the repository, e.g. test/hostile/http.test.ts. */
export function testFiles(dir = join(ROOT, 'test')) {
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') found.push(...testFiles(path));
    } else if (entry.name.endsWith('.test.ts')) {
      found.push(relative(ROOT, path));
    }
  }
  return found.sort();
}
