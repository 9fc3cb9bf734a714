// The docs tell the truth about the code: every route is in the README's API table, every error code the
// code can produce is in its error table with its status, every configuration variable is in its
// configuration table, every repository path the docs mention exists, and the docs refer to nothing a
// reader of the repository cannot see. Each failure names what is missing and where to add it.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from './helpers/node-test.ts';
import { fileURLToPath } from 'node:url';
import { CONFIG_VARIABLES } from '../src/config.ts';
import { startService, type TestService } from './helpers/service.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');
const README = read('README.md');
const DOCS = ['README.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** The lines of the markdown section that starts with `heading` (up to the next heading of the same or a higher level). */
function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  assert.ok(start >= 0, `README.md has no "${heading}" section`);
  const level = heading.indexOf(' ');
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.indexOf(' ') <= level);
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}

/** Table rows (cells trimmed) of a markdown text, header and separator rows left out. */
function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.trim().startsWith('|') && !/^\|[\s|:-]+\|$/.test(l.trim()))
    .map((l) => l.trim().slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
}

/** "GET /v2/models/<name>[/versions/<v>]" -> both spellings, parameters as {}. */
function expand(route: string): string[] {
  const optional = /\[([^\]]*)\]/.exec(route);
  if (optional) return [...expand(route.replace(optional[0], '')), ...expand(route.replace(optional[0], optional[1]!))];
  return [route.replace(/<[^>]+>|\{[^}]+\}/g, '{}')];
}

// ---- routes ----

let svc: TestService;
before(async () => {
  svc = await startService({ iris: { config: JSON.parse(read('models/iris/config.json')), versions: { 1: new Uint8Array(readFileSync(path.join(ROOT, 'models/iris/1/model.onnx'))) } } });
});
after(() => svc?.close());

test('every route of the route table (and so of /openapi.json) is in the README API table', async () => {
  const table = tableRows(section(README, '## API')).filter((cells) => cells.length === 2);
  const documented = new Set(table.flatMap(([routes]) => [...routes!.matchAll(/`((?:GET|POST) [^`]+)`/g)].flatMap((m) => expand(m[1]!))));
  const openapi = (await fetch(`${svc.url}/openapi.json`).then((r) => r.json())) as { paths: Record<string, Record<string, unknown>> };
  const routes = Object.entries(openapi.paths).flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`));
  assert.deepEqual(routes.sort(), svc.service.routes.map((r) => `${r.method} ${r.path}`).sort(), 'the OpenAPI document and the route table differ');
  const missing = routes.filter((r) => !documented.has(expand(r)[0]!));
  assert.deepEqual(missing, [], `routes missing from the API table of README.md: ${missing.join(', ')}`);
  const known = new Set(routes.map((r) => expand(r)[0]!));
  const extra = [...documented].filter((r) => !known.has(r));
  assert.deepEqual(extra, [], `README.md's API table lists routes the service does not have: ${extra.join(', ')}`);
});

// ---- error codes ----

function sourceFiles(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : [],
  );
}

/** Every [status, code] a reply can carry, found in the source; the metrics port's are marked. */
function errorCodes(): { status: number; code: string; where: string }[] {
  const found: { status: number; code: string; where: string }[] = [];
  for (const file of sourceFiles('src')) {
    const text = read(file);
    const add = (status: number | string, code: string) => found.push({ status: Number(status), code, where: file });
    for (const m of text.matchAll(/new AppError\(\s*'(\w+)',\s*(\d{3})/g)) add(m[2]!, m[1]!);
    for (const m of text.matchAll(/\bunavailable\(\s*'(\w+)'/g)) add(503, m[1]!);
    for (const m of text.matchAll(/\bnotFound\(\s*'(\w+)'/g)) add(404, m[1]!);
    if (file !== 'src/errors.ts' && /\binvalid\(/.test(text)) add(400, 'invalid_request');
    // Replies written by hand: the clientError answers ([status, 'code', message]) and the metrics server.
    for (const m of text.matchAll(/\[(\d{3}), '(\w+)',/g)) add(m[1]!, m[2]!);
    for (const m of text.matchAll(/writeHead\((\d{3})[^)]*\)\.end\('\{"error":"[^"]*","code":"(\w+)"\}'\)/g)) add(m[1]!, m[2]!);
    for (const m of text.matchAll(/status: (\d{3}),[^}]*code: '(\w+)'/g)) add(m[1]!, m[2]!);
  }
  return found;
}

test('every error code the code can produce is in the README error table, in the row of its status', () => {
  const codes = errorCodes();
  // A sanity check of the scan itself: these come from each kind of construction.
  for (const code of ['invalid_request', 'model_not_found', 'queue_full', 'headers_too_large', 'internal', 'not_found']) {
    assert.ok(codes.some((c) => c.code === code), `the source scan found no "${code}": update errorCodes() in test/docs.test.ts`);
  }
  const rows = tableRows(section(README, '### Errors'));
  const problems: string[] = [];
  for (const { status, code, where } of codes) {
    const row = rows.find((cells) => cells.some((c) => c.includes(`\`${code}\``)) && cells[0]!.includes(String(status)));
    if (!row) problems.push(`${status} ${code} (${where})`);
  }
  assert.deepEqual([...new Set(problems)], [], `error codes missing from the error table of README.md (status in the first column, code in backticks): ${[...new Set(problems)].join(', ')}`);
});

// ---- configuration ----

test('every configuration variable is in the README configuration table', () => {
  const rows = tableRows(section(README, '## Configuration'));
  const documented = new Set(rows.map((cells) => /^`(\w+)`$/.exec(cells[0]!)?.[1]).filter(Boolean));
  const missing = CONFIG_VARIABLES.filter((v) => !documented.has(v));
  assert.deepEqual(missing, [], `variables of src/config.ts missing from the configuration table of README.md: ${missing.join(', ')}`);
  const unknown = [...documented].filter((v) => !CONFIG_VARIABLES.includes(v!));
  assert.deepEqual(unknown, [], `README.md documents variables the service does not read: ${unknown.join(', ')}`);
});

// ---- paths ----

const TOP = new Set(readdirSync(ROOT).filter((n) => n !== 'node_modules' && n !== 'dist' && n !== '.git'));
/** Paths the docs name on purpose that are not in the tree, with the reason. */
const NOT_IN_TREE: Record<string, string> = {
  'bench/results/tmp/': 'written by npm run bench -- --quick, not committed',
};

/** Does a repository path exist? dist/x.js exists when src/x.ts does (npm run build); "*" matches within a name. */
function exists(rel: string): boolean {
  const clean = rel.replace(/\/$/, '');
  if (clean === 'dist') return existsSync(path.join(ROOT, 'src')); // the build output, absent from a fresh clone
  if (clean.startsWith('dist/')) return exists(clean.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts')) || exists(clean.replace(/^dist\//, 'src/'));
  if (!clean.includes('*')) return existsSync(path.join(ROOT, clean));
  const dir = path.dirname(clean);
  if (!existsSync(path.join(ROOT, dir)) || !statSync(path.join(ROOT, dir)).isDirectory()) return false;
  const pattern = new RegExp(`^${path.basename(clean).replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`);
  return readdirSync(path.join(ROOT, dir)).some((n) => pattern.test(n));
}

/** Repository paths a markdown file mentions: backticked or in code blocks (from the root), and relative links (from the file). */
function mentionedPaths(file: string): string[] {
  const text = read(file);
  const paths: string[] = [];
  const candidates = [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  for (const block of text.matchAll(/```[^\n]*\n([\s\S]*?)```/g)) candidates.push(...block[1]!.split(/[\s'"=(),]+/));
  for (const candidate of candidates) {
    for (const token of candidate.split(/\s+/)) {
      const first = token.split('/')[0]!;
      if (!token.includes('/') && !/\.(md|json|ts|yaml|sh|png|svg)$/.test(token)) continue;
      if (!TOP.has(first) && first !== 'dist') continue;
      if (/[<>{}|]/.test(token) || token.includes('...')) continue; // placeholders and alternatives
      paths.push(token.replace(/[.,;:]$/, ''));
    }
  }
  for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!.split('#')[0]!;
    if (!target || /^[a-z]+:/.test(target)) continue;
    paths.push(path.relative(ROOT, path.resolve(ROOT, path.dirname(file), target)) + (target.endsWith('/') ? '/' : ''));
  }
  return [...new Set(paths)];
}

test('every repository path README.md and docs/*.md mention exists', () => {
  const missing: string[] = [];
  for (const file of DOCS) for (const p of mentionedPaths(file)) if (!NOT_IN_TREE[p] && !exists(p)) missing.push(`${file}: ${p}`);
  assert.deepEqual(missing, [], `paths that do not exist:\n  ${missing.join('\n  ')}`);
});

test('the docs refer to nothing outside the repository (issues, design notes)', () => {
  const outside = /\bissue #?\d+|\bDESIGN\.md\b|\bthe design\b/i;
  const found = [...DOCS, 'bench/results/latest.md', 'bench/results/soak.md'].flatMap((file) =>
    read(file)
      .split('\n')
      .map((line, i) => [line, i + 1] as const)
      .filter(([line]) => outside.test(line))
      .map(([line, n]) => `${file}:${n}: ${line.trim().slice(0, 120)}`),
  );
  assert.deepEqual(found, [], `references a reader of the repository cannot follow:\n  ${found.join('\n  ')}`);
});
