import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { selectVersions, missingVersions, versionPolicySchema, type VersionPolicy } from './version-policy.ts';

// What the model repository holds, and what to load and unload to serve it. Pure bookkeeping, no
// onnxruntime: scanRepository() lists MODEL_REPOSITORY, StabilityTracker decides which version
// directories have stopped changing, desiredState() applies each model's version policy, and plan()
// compares that with what is loaded.
//
// The stability rule: a version directory is loaded only once every file in it (model.onnx, external
// data files, hidden temporary files of a copy in progress) has the same size, modification time and
// inode in two consecutive scans, and model.onnx is not empty. The same goes for config.json. A
// directory or file whose name starts with "." is never a model or a version, so a writer can stage a
// version under <name>/.<version>.tmp and rename it into place when complete. A model or version that
// disappears is dropped only when it is still missing at the next scan.

/** A model name: the directory name under MODEL_REPOSITORY (also what the ModelRepository accepts). */
export const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** A version: a positive integer directory name, at most nine digits. */
export const VERSION = /^[1-9][0-9]{0,8}$/;
export const MODEL_FILE = 'model.onnx';
export const CONFIG_FILE = 'config.json';
/** config.json larger than this is reported, not read. */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/** Files looked at in one version directory (depth-first, at most 4 levels); more is reported. */
export const MAX_VERSION_FILES = 1000;

export interface ScannedFile {
  /** Path relative to the version directory, with "/" separators. */
  name: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface ScannedVersion {
  version: number;
  /** The version directory. */
  dir: string;
  /** <dir>/model.onnx */
  path: string;
  /** Size of model.onnx in bytes; the files' total is `bytes`. */
  size: number;
  mtimeMs: number;
  /** Total size of the version directory's files. */
  bytes: number;
  files: ScannedFile[];
  /** Changes whenever any file of the version changes (name, size, mtime or inode). */
  fingerprint: string;
}

export interface ScannedModel {
  name: string;
  dir: string;
  /** config.json as text; undefined when there is none. */
  configText: string | undefined;
  /** sha256 of config.json, or "none". */
  configHash: string;
  /** Versions with a model.onnx, ascending. */
  versions: ScannedVersion[];
}

export interface ScanProblem {
  /** The path relative to the repository root. */
  path: string;
  message: string;
}

export interface RepositoryScan {
  root: string;
  models: Map<string, ScannedModel>;
  /** What was skipped and why: bad names, version directories without model.onnx, unreadable files. */
  problems: ScanProblem[];
}

export class ScanError extends Error {
  override name = 'ScanError';
}

const hash = (text: string) => createHash('sha256').update(text).digest('hex');
const errCode = (err: unknown) => (err as NodeJS.ErrnoException).code ?? String(err);

/**
 * Lists MODEL_REPOSITORY: <name>/config.json (optional) and <name>/<version>/model.onnx. Entries are
 * followed through symbolic links. Throws ScanError only when the root itself cannot be listed (a poller
 * then keeps what it has); anything below it that cannot be read is reported in `problems`.
 */
export async function scanRepository(root: string): Promise<RepositoryScan> {
  const absolute = path.resolve(root);
  let names: string[];
  try {
    names = (await readdir(absolute)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    throw new ScanError(`model repository ${absolute} cannot be read: ${errCode(err)}`);
  }
  const scan: RepositoryScan = { root: absolute, models: new Map(), problems: [] };
  for (const name of names) {
    const model = await scanEntry(absolute, name, scan.problems);
    if (model) scan.models.set(name, model);
  }
  return scan;
}

/**
 * One model of the repository, for loading a single model on request. The name is looked up in the
 * listing of the root, never joined into a path unchecked: undefined when no such model directory exists.
 */
export async function scanModel(root: string, name: string): Promise<{ model: ScannedModel | undefined; problems: ScanProblem[] }> {
  const absolute = path.resolve(root);
  const problems: ScanProblem[] = [];
  if (!NAME.test(name)) return { model: undefined, problems };
  let names: string[];
  try {
    names = await readdir(absolute);
  } catch (err) {
    throw new ScanError(`model repository ${absolute} cannot be read: ${errCode(err)}`);
  }
  if (!names.includes(name)) return { model: undefined, problems };
  return { model: await scanEntry(absolute, name, problems), problems };
}

async function scanEntry(root: string, name: string, problems: ScanProblem[]): Promise<ScannedModel | undefined> {
  const dir = path.join(root, name);
  const info = await stat(dir).catch((err: unknown) => {
    problems.push({ path: name, message: `cannot be read: ${errCode(err)}` });
    return undefined;
  });
  if (!info?.isDirectory()) return undefined; // files at the top (README, notes) are not models
  if (!NAME.test(name)) {
    problems.push({ path: name, message: 'not a model name: letters, digits, "_", "." and "-", at most 128, starting with a letter or digit' });
    return undefined;
  }
  let entries: string[];
  try {
    entries = (await readdir(dir)).sort();
  } catch (err) {
    problems.push({ path: name, message: `cannot be read: ${errCode(err)}` });
    return undefined;
  }
  let configText: string | undefined;
  if (entries.includes(CONFIG_FILE)) {
    try {
      configText = await readSmallFile(path.join(dir, CONFIG_FILE), MAX_CONFIG_BYTES);
    } catch (err) {
      problems.push({ path: `${name}/${CONFIG_FILE}`, message: err instanceof ScanError ? err.message : `cannot be read: ${errCode(err)}` });
      // An unreadable config is a config that is not settled: hash the error so it never matches a loaded one.
      configText = undefined;
      return { name, dir, configText, configHash: `unreadable:${hash(String(err))}`, versions: await scanVersions(dir, name, entries, problems) };
    }
  }
  const versions = await scanVersions(dir, name, entries, problems);
  return { name, dir, configText, configHash: configText === undefined ? 'none' : hash(configText), versions };
}

async function scanVersions(dir: string, name: string, entries: string[], problems: ScanProblem[]): Promise<ScannedVersion[]> {
  const versions: ScannedVersion[] = [];
  for (const entry of entries) {
    if (!VERSION.test(entry)) continue;
    const versionDir = path.join(dir, entry);
    const info = await stat(versionDir).catch(() => undefined);
    if (!info?.isDirectory()) continue;
    const files: ScannedFile[] = [];
    try {
      await walk(versionDir, '', 0, files);
    } catch (err) {
      problems.push({ path: `${name}/${entry}`, message: err instanceof ScanError ? err.message : `cannot be read: ${errCode(err)}` });
      continue;
    }
    const model = files.find((f) => f.name === MODEL_FILE);
    if (!model) {
      problems.push({ path: `${name}/${entry}`, message: `no ${MODEL_FILE} (yet)` });
      continue;
    }
    files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    versions.push({
      version: Number(entry),
      dir: versionDir,
      path: path.join(versionDir, MODEL_FILE),
      size: model.size,
      mtimeMs: model.mtimeMs,
      bytes: files.reduce((n, f) => n + f.size, 0),
      files,
      fingerprint: hash(JSON.stringify(files.map((f) => [f.name, f.size, f.mtimeMs, f.ino]))),
    });
  }
  return versions.sort((a, b) => a.version - b.version);
}

async function walk(dir: string, prefix: string, depth: number, files: ScannedFile[]): Promise<void> {
  for (const entry of (await readdir(dir)).sort()) {
    const full = path.join(dir, entry);
    const info = await stat(full).catch((err: unknown) => {
      // A file renamed away between readdir and stat (a copy tool's temporary file) is simply gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (!info) continue;
    const name = prefix ? `${prefix}/${entry}` : entry;
    if (info.isDirectory()) {
      if (depth < 3) await walk(full, name, depth + 1, files);
      continue;
    }
    if (!info.isFile()) continue;
    files.push({ name, size: info.size, mtimeMs: info.mtimeMs, ino: info.ino });
    if (files.length > MAX_VERSION_FILES) throw new ScanError(`more than ${MAX_VERSION_FILES} files in the version directory`);
  }
}

async function readSmallFile(file: string, limit: number): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > limit) throw new ScanError(`larger than ${limit} bytes`);
    const buffer = Buffer.alloc(size);
    const { bytesRead } = await handle.read(buffer, 0, size, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Stability

export interface ObservedVersion extends ScannedVersion {
  /** Unchanged since the previous scan, and model.onnx is not empty: may be loaded. */
  stable: boolean;
  /** Missing from this scan but present in the previous one: kept one more scan, never loaded. */
  gone: boolean;
}

export interface ObservedModel extends Omit<ScannedModel, 'versions'> {
  /** config.json unchanged (or still absent) since the previous scan. */
  configStable: boolean;
  /** Missing from this scan but present in the previous one. */
  gone: boolean;
  versions: ObservedVersion[];
}

export interface ObservedRepository {
  root: string;
  models: Map<string, ObservedModel>;
  problems: ScanProblem[];
}

/**
 * Remembers the previous scan and marks what has not changed since. Feed it every scan, in order.
 * The first scan of anything is never stable: files are picked up at the second scan that sees them
 * unchanged. What disappears is kept, unstable, for one scan, so a directory renamed into place (or a
 * repository swapped by a symbolic link) does not unload a model for a moment.
 */
export class StabilityTracker {
  #previous = new Map<string, ObservedModel>();

  /** A full scan of the repository: models missing from it are forgotten after one scan. */
  observe(scan: RepositoryScan): ObservedRepository {
    const models = new Map<string, ObservedModel>();
    for (const [name, model] of scan.models) models.set(name, this.#observeOne(model));
    for (const [name, before] of this.#previous) {
      if (!scan.models.has(name) && !before.gone) {
        models.set(name, { ...before, gone: true, configStable: false, versions: before.versions.filter((v) => !v.gone).map((v) => ({ ...v, stable: false, gone: true })) });
      }
    }
    this.#previous = new Map([...models].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    return { root: scan.root, models: new Map(this.#previous), problems: scan.problems };
  }

  /** A scan of one model (scanModel); other models are left as they were. Undefined forgets the model. */
  observeModel(name: string, model: ScannedModel | undefined): ObservedModel | undefined {
    if (!model) {
      this.#previous.delete(name);
      return undefined;
    }
    const observed = this.#observeOne(model);
    this.#previous.set(name, observed);
    return observed;
  }

  #observeOne(model: ScannedModel): ObservedModel {
    const before = this.#previous.get(model.name);
    const earlier = new Map((before?.versions ?? []).filter((v) => !v.gone).map((v) => [v.version, v]));
    const versions: ObservedVersion[] = model.versions.map((v) => ({
      ...v,
      stable: v.size > 0 && earlier.get(v.version)?.fingerprint === v.fingerprint,
      gone: false,
    }));
    const present = new Set(model.versions.map((v) => v.version));
    for (const [version, v] of earlier) if (!present.has(version)) versions.push({ ...v, stable: false, gone: true });
    versions.sort((a, b) => a.version - b.version);
    const configStable = before !== undefined && !before.gone && before.configHash === model.configHash && !model.configHash.startsWith('unreadable:');
    return { ...model, configStable, gone: false, versions };
  }
}

// ---------------------------------------------------------------------------------------------
// What the repository wants served

/** config.json's version_policy, read leniently (the rest of the file is validated when the model loads). */
export function policyFromConfigText(text: string | undefined): { policy: VersionPolicy | undefined } | { error: string } {
  if (text === undefined) return { policy: undefined };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { error: `config.json is not valid JSON: ${(err as Error).message}` };
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return { error: 'config.json is not a JSON object' };
  const raw = (json as Record<string, unknown>).version_policy;
  if (raw === undefined) return { policy: undefined };
  const parsed = versionPolicySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { error: `config.json: version_policy${issue.path.length ? `.${issue.path.join('.')}` : ''}: ${issue.message}` };
  }
  return { policy: parsed.data };
}

export interface DesiredModel {
  name: string;
  configHash: string;
  configStable: boolean;
  policy: VersionPolicy | undefined;
  /** Why the model's policy cannot be applied (bad version_policy); nothing changes for the model meanwhile. */
  policyError?: string;
  /** The versions the policy selects among those present (stable or not), ascending. */
  versions: ObservedVersion[];
  /** Every version in the repository (selected or not, complete or not), ascending. */
  available: number[];
  /** Versions a `specific` policy lists that are not in the repository. */
  missing: number[];
}

/** Applies each model's version policy (from its config.json) to the observed repository. */
export function desiredState(observed: ObservedRepository): Map<string, DesiredModel> {
  const desired = new Map<string, DesiredModel>();
  for (const [name, model] of observed.models) {
    const read = policyFromConfigText(model.configText);
    const policy = 'policy' in read ? read.policy : undefined;
    const available = model.versions.filter((v) => !v.gone).map((v) => v.version);
    // Versions missing for one scan still count, so that a rename does not switch the policy's choice.
    const selected = new Set(selectVersions(policy, model.versions.map((v) => v.version)));
    desired.set(name, {
      name,
      configHash: model.configHash,
      configStable: model.configStable,
      policy,
      ...('error' in read ? { policyError: read.error } : {}),
      versions: model.versions.filter((v) => selected.has(v.version)),
      available,
      missing: missingVersions(policy, available),
    });
  }
  return desired;
}

// ---------------------------------------------------------------------------------------------
// The plan

export type LoadedState = 'loading' | 'ready' | 'failed' | 'unloading';

/** One instance of a model version the server holds (or tried to load). */
export interface LoadedVersion {
  name: string;
  version: number;
  /** The fingerprint of the files it was loaded from, and the config.json hash it was loaded with. */
  fingerprint: string;
  configHash: string;
  state: LoadedState;
}

export interface VersionRef {
  name: string;
  version: number;
}

export interface LoadStep extends VersionRef {
  path: string;
  fingerprint: string;
  configHash: string;
  /** Bytes of the version's files: what the memory check of a swap starts from. */
  bytes: number;
  /** new: not loaded; changed: its files changed; config: config.json changed. */
  reason: 'new' | 'changed' | 'config';
  /** An instance of the same version serves now: swap it for the new one once that is ready. */
  replacesInstance: boolean;
}

export interface UnloadStep extends VersionRef {
  /** policy: no longer selected; removed: its files are gone; model_removed: the model directory is gone. */
  reason: 'policy' | 'removed' | 'model_removed';
  /** Versions that must all be ready (the plan's loads, and loads already under way) before this unload runs; if one fails, skip it. */
  after: VersionRef[];
}

export interface Waiting {
  name: string;
  version?: number;
  reason: string;
}

export interface Plan {
  load: LoadStep[];
  unload: UnloadStep[];
  /** What the plan holds back and why: files still changing, failed loads, a bad policy. */
  waiting: Waiting[];
}

export interface PlanOptions {
  /** Plan only these models (explicit mode loads one model); others are left as they are. */
  only?: ReadonlySet<string>;
}

const serving = (s: LoadedState) => s === 'ready' || s === 'loading';

/**
 * What to load and unload so that the server holds what `desired` wants. Loads come before the unloads of
 * the versions they replace: every unload lists the loads it waits for. A version that failed to load
 * with the same files and config is not tried again (it is listed in `waiting`), and while any wanted
 * version of a model is still changing or failed, none of the model's serving versions is unloaded:
 * the old version keeps serving. A model gone from the repository is unloaded.
 */
export function plan(desired: ReadonlyMap<string, DesiredModel>, loaded: readonly LoadedVersion[], options: PlanOptions = {}): Plan {
  const result: Plan = { load: [], unload: [], waiting: [] };
  const byModel = new Map<string, LoadedVersion[]>();
  for (const l of loaded) {
    if (!byModel.has(l.name)) byModel.set(l.name, []);
    byModel.get(l.name)!.push(l);
  }
  const names = [...new Set([...desired.keys(), ...byModel.keys()])].filter((n) => !options.only || options.only.has(n)).sort();

  for (const name of names) {
    const want = desired.get(name);
    const have = byModel.get(name) ?? [];
    const servingVersions = [...new Set(have.filter((l) => serving(l.state)).map((l) => l.version))].sort((a, b) => a - b);

    if (!want) {
      for (const version of servingVersions) result.unload.push({ name, version, reason: 'model_removed', after: [] });
      continue;
    }
    if (want.policyError) {
      result.waiting.push({ name, reason: want.policyError });
      continue;
    }
    if (!want.configStable) {
      result.waiting.push({ name, reason: 'config.json is new or changing; waiting for it to stay unchanged for one scan' });
      continue;
    }

    const loads: LoadStep[] = [];
    const inProgress: VersionRef[] = [];
    let held = false;
    for (const v of want.versions) {
      if (!v.stable) {
        held = true;
        result.waiting.push({ name, version: v.version, reason: v.gone ? 'files missing; dropped if still missing at the next scan' : 'files are new or changing; waiting for them to stay unchanged for one scan' });
        continue;
      }
      const instances = have.filter((l) => l.version === v.version && l.state !== 'unloading');
      const same = instances.find((l) => l.fingerprint === v.fingerprint && l.configHash === want.configHash);
      if (same?.state === 'loading') inProgress.push({ name, version: v.version });
      if (same && serving(same.state)) continue;
      if (same) {
        held = true;
        result.waiting.push({ name, version: v.version, reason: 'failed to load; tried again when its files or config.json change' });
        continue;
      }
      const current = instances.find((l) => serving(l.state));
      loads.push({
        name,
        version: v.version,
        path: v.path,
        fingerprint: v.fingerprint,
        configHash: want.configHash,
        bytes: v.bytes,
        reason: !current ? 'new' : current.fingerprint !== v.fingerprint ? 'changed' : 'config',
        replacesInstance: current !== undefined,
      });
    }
    // Newest first: traffic that asks for no version moves to it soonest.
    loads.sort((a, b) => b.version - a.version);
    result.load.push(...loads);

    const wanted = new Set(want.versions.map((v) => v.version));
    const stale = servingVersions.filter((v) => !wanted.has(v));
    if (stale.length === 0) continue;
    // No version left at all (after the one scan of grace): the versions were removed, unload them. Versions
    // present but none selected (a `specific` list naming versions not there yet): keep what serves.
    if (held || (want.versions.length === 0 && want.available.length > 0)) {
      const why = want.versions.length === 0
        ? `version_policy selects no version in the repository${want.missing.length ? ` (missing: ${want.missing.join(', ')})` : ''}`
        : 'a version that replaces it is not ready';
      for (const version of stale) result.waiting.push({ name, version, reason: `kept serving: ${why}` });
      continue;
    }
    const after = [...loads.map(({ name: n, version }) => ({ name: n, version })), ...inProgress];
    for (const version of stale) result.unload.push({ name, version, reason: want.available.includes(version) ? 'policy' : 'removed', after });
  }
  return result;
}
