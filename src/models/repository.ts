import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { notFound, unavailable } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { decodeV2Request } from '../codecs/v2.ts';
import type { Tensors } from '../tensors/types.ts';
import { parseModelConfig, readModelConfig, RepositoryError, type ModelConfig } from './config.ts';
import { NAME, VERSION, type LoadedState, type LoadedVersion, type LoadStep } from './scan.ts';
import { missingVersions, selectVersions } from './version-policy.ts';
import { Model } from './model.ts';
import { DEFAULT_SUPERVISION, WorkerPool, type Supervision } from './pool.ts';
import type { OrtLogLevel } from './session.ts';

export { RepositoryError };


export interface RepositoryOptions {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  clock?: Clock;
  /** How workers are restarted; onGiveUp defaults to logging only (main.ts exits the process). */
  supervision?: Partial<Supervision>;
  /** Inference worker threads (INFERENCE_WORKERS, else what main.ts found the process may use); default 1. */
  workers?: number;
}

/** Model versions loaded at once at start: enough to keep every worker busy while the next files are read. */
const LOAD_CONCURRENCY = 8;

/** onnxruntime's own log lines are plain text on stderr: silent unless LOG_LEVEL=trace lets its warnings through. */
function ortLogLevel(level: string): OrtLogLevel {
  return level === 'trace' ? 'warning' : 'fatal';
}

type State = 'loading' | 'ready' | 'failed';

/** The models under MODEL_REPOSITORY: <name>/config.json (optional) and <name>/<version>/model.onnx. */
export class ModelRepository {
  readonly #o: RepositoryOptions;
  readonly #models = new Map<string, Map<number, Model>>();
  readonly #pool: WorkerPool;
  /** The files and config.json each serving version was loaded from (for the poller's plan). */
  readonly #origins = new WeakMap<Model, { fingerprint: string; configHash: string }>();
  /** Memory reserved for versions loaded while the server runs, given back when they are unloaded. */
  readonly #memory = new Map<Model, () => void>();
  /** File bytes of the versions loaded at start, until holdStartMemory() takes them. */
  readonly #loadedAtStart = new Map<Model, number>();
  /** Versions being loaded, and versions that failed to load, while the server runs. */
  readonly #attempts = new Map<string, LoadedVersion & { state: LoadedState; reason?: string }>();
  #state: State = 'loading';
  #defaultName: string | undefined;

  constructor(options: RepositoryOptions) {
    this.#o = options;
    const { config, logger } = options;
    this.#pool = new WorkerPool({
      size: options.workers ?? config.INFERENCE_WORKERS ?? 1,
      intraOpThreads: config.ORT_INTRA_OP_THREADS,
      ortLogLevel: ortLogLevel(config.LOG_LEVEL),
      supervision: {
        ...DEFAULT_SUPERVISION,
        maxFailures: config.WORKER_MAX_RESTARTS,
        onGiveUp: (reason) => logger.fatal({ reason }, 'an inference worker keeps failing'),
        ...options.supervision,
      },
      logger,
      clock: options.clock,
    });
  }

  /** The inference worker pool the models share. */
  get pool(): WorkerPool {
    return this.#pool;
  }

  get state(): State {
    return this.#state;
  }

  get defaultModelName(): string | undefined {
    return this.#defaultName;
  }

  /** Reasons the repository is not ready; empty when every model in service has a version that is loaded and warmed up. */
  notReadyReasons(): string[] {
    if (this.#state === 'loading') return ['models are loading'];
    if (this.#state === 'failed') return ['model loading failed'];
    // Ready while every model in service has a ready version: a version restarting beside a ready one
    // answers 503 to requests that name it, but the model serves.
    const reasons: string[] = [];
    for (const versions of this.#models.values()) {
      const models = [...versions.values()];
      if (models.some((m) => m.ready)) continue;
      for (const m of models) {
        const reason = m.notReadyReason();
        if (reason) reasons.push(reason);
      }
    }
    return reasons;
  }

  all(): Model[] {
    return [...this.#models.values()].flatMap((versions) => [...versions.values()]);
  }

  names(): string[] {
    return [...this.#models.keys()].sort();
  }

  versions(name: string): number[] {
    return [...(this.#models.get(name)?.keys() ?? [])].sort((a, b) => a - b);
  }

  /** Finds a loaded model by name and optional version (the highest by default). Never touches the filesystem. */
  resolve(name: string | undefined, version?: string): Model {
    const resolvedName = name ?? this.#defaultName;
    if (resolvedName === undefined) {
      if (this.#state === 'loading') throw unavailable('not_ready', 'models are still loading; retry shortly');
      throw notFound('model_not_found', 'no default model is configured: set DEFAULT_MODEL or name a model');
    }
    const versions = this.#models.get(resolvedName);
    if (!versions) {
      if (this.#state === 'loading') throw unavailable('not_ready', 'models are still loading; retry shortly');
      const shown = resolvedName.length > 64 ? `${resolvedName.slice(0, 64)}…` : resolvedName;
      throw notFound('model_not_found', `unknown model "${shown}"; available: ${this.names().join(', ') || 'none'}`);
    }
    let model: Model | undefined;
    if (version === undefined) {
      model = versions.get(Math.max(...versions.keys()));
    } else {
      if (!VERSION.test(version)) {
        throw notFound('version_not_found', `model "${resolvedName}" has no version "${version.slice(0, 32)}"; versions are positive integers: ${this.versions(resolvedName).join(', ')}`);
      }
      model = versions.get(Number(version));
      if (!model) throw notFound('version_not_found', `model "${resolvedName}" has no version ${version}; available: ${this.versions(resolvedName).join(', ')}`);
    }
    const error = model!.unavailableError();
    if (error) throw error;
    return model!;
  }

  /** Loads and warms up every model version. Throws RepositoryError naming the file on any failure. */
  async load(): Promise<void> {
    try {
      await this.#load();
      this.#state = 'ready';
    } catch (err) {
      this.#state = 'failed';
      throw err;
    }
  }

  async #load(): Promise<void> {
    const { config, logger } = this.#o;
    const root = path.resolve(config.MODEL_REPOSITORY);
    let entries;
    try {
      entries = await readdir(root, { withFileTypes: true });
    } catch (err) {
      throw new RepositoryError(`model repository ${root} cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    const dirs = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
    if (dirs.length === 0) throw new RepositoryError(`model repository ${root} holds no model directories (expected <name>/<version>/model.onnx)`);
    const defaults: string[] = [];
    const jobs: { name: string; version: number; file: string; modelConfig: ModelConfig }[] = [];
    for (const name of dirs) {
      if (!NAME.test(name)) throw new RepositoryError(`model directory ${path.join(root, name)}: a model name uses letters, digits, "_", "." and "-" (at most 128)`);
      const modelConfig = await readModelConfig(path.join(root, name, 'config.json'));
      if (modelConfig.default) defaults.push(name);
      const versionDirs = (await readdir(path.join(root, name), { withFileTypes: true }))
        .filter((e) => e.isDirectory() && VERSION.test(e.name))
        .map((e) => Number(e.name))
        .sort((a, b) => a - b);
      if (versionDirs.length === 0) throw new RepositoryError(`model ${name}: ${path.join(root, name)} has no version directory (expected ${name}/1/model.onnx)`);
      const selected = selectVersions(modelConfig.version_policy, versionDirs);
      if (selected.length === 0) {
        throw new RepositoryError(`model ${name}: config.json version_policy selects none of the versions in ${path.join(root, name)} (${versionDirs.join(', ')}); missing: ${missingVersions(modelConfig.version_policy, versionDirs).join(', ')}`);
      }
      const missing = missingVersions(modelConfig.version_policy, versionDirs);
      if (missing.length > 0) logger.warn({ model: name, missing }, 'config.json version_policy names versions that are not in the repository');
      this.#models.set(name, new Map());
      for (const version of selected) jobs.push({ name, version, file: path.join(root, name, String(version), 'model.onnx'), modelConfig });
    }
    // Bounded parallel loading, largest files first: each goes to the worker with the fewest model bytes, so
    // placing the big ones first spreads the bytes evenly. On a failure the loads under way finish (and are
    // closed with the rest), then the first failure in repository order is reported.
    const sizes = await Promise.all(jobs.map((j) => stat(j.file).then((s) => s.size, () => 0)));
    const order = jobs.map((_, i) => i).sort((a, b) => sizes[b]! - sizes[a]! || a - b);
    const failures: { index: number; error: unknown }[] = [];
    let next = 0;
    const loader = async () => {
      while (next < order.length && failures.length === 0) {
        const index = order[next++]!;
        const { name, version, file, modelConfig } = jobs[index]!;
        const started = performance.now();
        try {
          const model = await this.#loadOne(name, version, file, modelConfig, path.join(root, name));
          this.#models.get(name)!.set(version, model);
          this.#loadedAtStart.set(model, sizes[index]!);
          const seconds = (performance.now() - started) / 1000;
          this.#o.metrics.modelLoadDuration.set({ model: name, version: String(version) }, seconds);
          logger.info({ model: name, version, file, worker: model.worker, inputs: model.inputs, outputs: model.outputs, batchable: model.batchable, maxBatchSize: model.maxBatchSize, loadSeconds: seconds }, 'model loaded');
        } catch (error) {
          failures.push({ index, error });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(LOAD_CONCURRENCY, jobs.length) }, loader));
    if (failures.length > 0) throw failures.sort((x, y) => x.index - y.index)[0]!.error;
    this.#defaultName = pickDefault(config.DEFAULT_MODEL, defaults, dirs);
  }

  async #loadOne(name: string, version: number, file: string, modelConfig: ModelConfig, modelDir: string): Promise<Model> {
    const { config, metrics, logger, clock } = this.#o;
    let info;
    try {
      info = await stat(file);
    } catch {
      throw new RepositoryError(`model ${name} version ${version}: file ${file} is missing`);
    }
    if (!info.isFile() || info.size === 0) throw new RepositoryError(`model ${name} version ${version}: file ${file} is empty or not a file`);
    const samplesFile = typeof modelConfig.warmup === 'object' ? path.join(modelDir, modelConfig.warmup.samples) : undefined;
    const samplesText = samplesFile === undefined ? undefined : await readSamples(samplesFile, name);
    let opened;
    try {
      opened = await this.#pool.open(file, { logId: `${name}:${version}`, bytes: info.size });
    } catch (err) {
      throw new RepositoryError(`model ${name} version ${version}: ${file} cannot be served: ${(err as Error).message}`);
    }
    const { session, signature } = opened;
    let model: Model | undefined;
    try {
      model = new Model({
        name,
        version,
        path: file,
        config: modelConfig,
        session,
        signature,
        maxBatchSize: config.MAX_BATCH_SIZE,
        batchDelayMs: config.BATCH_DELAY_MS,
        maxQueueSize: config.MAX_QUEUE_SIZE,
        batchTimeoutMs: config.BATCH_TIMEOUT_MS,
        metrics,
        logger,
        clock,
      });
      session.attach(model);
      if (samplesText !== undefined) model.useWarmupSamples(decodeSamples(samplesText, samplesFile!, model));
      if (modelConfig.labels) {
        const out = model.outputs[0];
        const classes = out?.shape.at(-1);
        if (model.outputs.length !== 1 || classes === undefined || (classes !== -1 && classes !== modelConfig.labels.length)) {
          throw new Error(`config.json lists ${modelConfig.labels.length} labels but the model's output is ${model.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)}`).join(', ')}`);
        }
      }
      await model.warmUp();
    } catch (err) {
      if (model) await model.close().catch(() => undefined);
      else await session.close().catch(() => undefined);
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`model ${name} version ${version}: ${file} cannot be served: ${(err as Error).message}`);
    }
    return model;
  }

  /**
   * What the server holds, for the repository poller's plan and the repository index: every serving version,
   * and the versions being loaded or that failed to load (with the files and config.json they were tried with).
   */
  instances(): (LoadedVersion & { reason?: string })[] {
    const list: (LoadedVersion & { reason?: string })[] = [];
    for (const [name, versions] of this.#models) {
      for (const [version, model] of versions) {
        const origin = this.#origins.get(model);
        list.push({ name, version, fingerprint: origin?.fingerprint ?? '', configHash: origin?.configHash ?? '', state: 'ready', reason: model.notReadyReason() });
      }
    }
    for (const attempt of this.#attempts.values()) list.push(attempt);
    return list;
  }

  /** Records the files and config.json each model loaded at start came from (the poller's first scan). */
  noteOrigins(origin: (name: string, version: number) => { fingerprint: string; configHash: string } | undefined): void {
    for (const model of this.all()) {
      const o = origin(model.name, model.version);
      if (o && !this.#origins.has(model)) this.#origins.set(model, o);
    }
  }

  /**
   * Loads and warms up one version while the server runs; it takes traffic only once it is ready. When it
   * replaces an instance of the same version (its files or config.json changed), the old instance is then
   * retired: requests holding it finish. A failure is recorded (not retried until the files or config change)
   * and what served before keeps serving. `reserve` is asked for the memory the version will take; when it
   * refuses, nothing is loaded and the error is returned.
   */
  async loadVersion(step: LoadStep, configText: string | undefined, reserve?: (bytes: number) => (() => void) | Error): Promise<{ ok: true; model: Model } | { ok: false; error: Error; retry: boolean }> {
    const { logger, metrics } = this.#o;
    const key = `${step.name}:${step.version}`;
    const labels = { model: step.name, version: String(step.version) };
    const memory = reserve?.(modelMemoryCost(step.bytes));
    if (memory instanceof Error) {
      logger.warn({ model: step.name, version: step.version, err: memory.message }, 'model version not loaded: not enough memory beside what serves; trying again later');
      return { ok: false, error: memory, retry: true };
    }
    this.#attempts.set(key, { name: step.name, version: step.version, fingerprint: step.fingerprint, configHash: step.configHash, state: 'loading' });
    logger.info({ model: step.name, version: step.version, reason: step.reason, file: step.path }, 'loading model version');
    const started = performance.now();
    try {
      const modelDir = path.dirname(path.dirname(step.path));
      const modelConfig = parseModelConfig(configText, path.join(modelDir, 'config.json'));
      const model = await this.#loadOne(step.name, step.version, step.path, modelConfig, modelDir);
      this.#attempts.delete(key);
      this.#origins.set(model, { fingerprint: step.fingerprint, configHash: step.configHash });
      if (memory) this.#memory.set(model, memory);
      let versions = this.#models.get(step.name);
      if (!versions) this.#models.set(step.name, (versions = new Map()));
      const replaced = versions.get(step.version);
      versions.set(step.version, model);
      const seconds = (performance.now() - started) / 1000;
      metrics.modelLoadDuration.set(labels, seconds);
      metrics.modelLoads.inc(labels);
      logger.info({ model: step.name, version: step.version, worker: model.worker, loadSeconds: seconds, replaced: replaced !== undefined }, 'model version loaded; serving it');
      if (replaced) await this.#retire(replaced);
      return { ok: true, model };
    } catch (err) {
      memory?.();
      const message = (err as Error).message;
      this.#attempts.set(key, { name: step.name, version: step.version, fingerprint: step.fingerprint, configHash: step.configHash, state: 'failed', reason: message });
      metrics.modelLoadFailures.inc(labels);
      logger.error({ model: step.name, version: step.version, err: message }, 'model version failed to load; what served before keeps serving');
      return { ok: false, error: err as Error, retry: false };
    }
  }

  /**
   * The versions loaded at start are in the resident memory the request budget was sized from. `hold` makes,
   * for each, the function that gives its memory to requests once it is unloaded. It gives back the file's
   * size: what the weights surely took, where modelMemoryCost() (charged to versions loaded later) is an upper
   * estimate, and a budget must not grow by memory that was never there.
   */
  holdStartMemory(hold: (bytes: number) => () => void): void {
    for (const [model, fileBytes] of this.#loadedAtStart) this.#memory.set(model, hold(fileBytes));
    this.#loadedAtStart.clear();
  }

  /** Takes a version out of service: new requests get 404 at once, requests holding it finish, then its session is released. */
  async unloadVersion(name: string, version: number, reason: string): Promise<boolean> {
    this.#attempts.delete(`${name}:${version}`);
    const versions = this.#models.get(name);
    const model = versions?.get(version);
    if (!versions || !model) return false;
    versions.delete(version);
    if (versions.size === 0) this.#models.delete(name);
    this.#o.metrics.modelUnloads.inc({ model: name, version: String(version) });
    this.#o.logger.info({ model: name, version, reason }, 'model version unloaded; requests in flight on it finish');
    await this.#retire(model);
    return true;
  }

  /** Forgets a failed or pending load attempt (an explicit unload of a model that never loaded). */
  forgetAttempts(name: string): void {
    for (const [key, a] of this.#attempts) if (a.name === name) this.#attempts.delete(key);
  }

  async #retire(model: Model): Promise<void> {
    await model.retire(this.#o.config.REQUEST_TIMEOUT_MS + 1000);
    this.#memory.get(model)?.();
    this.#memory.delete(model);
    this.#origins.delete(model);
  }

  /** Stops new work and waits for every queue to empty. */
  async drain(): Promise<void> {
    await Promise.all(this.all().map((m) => m.drain()));
  }

  /** Refuses every request still waiting in a queue (503 shutting_down); running batches finish. */
  abortQueued(): void {
    for (const m of this.all()) m.abortQueued();
  }

  async close(): Promise<void> {
    await Promise.all(this.all().map((m) => m.close()));
    await this.#pool.close();
  }
}


/**
 * Resident memory a loaded version takes, estimated from its files: onnxruntime keeps the weights, and
 * pre-packs or copies some of them for its kernels (measured 1-2.3 times the file for the bench's MLP), plus
 * the session's own structures.
 */
export function modelMemoryCost(fileBytes: number): number {
  return 2 * fileBytes + 16 * 2 ** 20;
}

function pickDefault(requested: string | undefined, defaults: string[], names: string[]): string | undefined {
  if (requested !== undefined) {
    if (!names.includes(requested)) throw new RepositoryError(`DEFAULT_MODEL=${requested} names no model in the repository; models: ${names.join(', ')}`);
    return requested;
  }
  if (defaults.length > 1) throw new RepositoryError(`several models say "default": true in config.json (${defaults.join(', ')}); keep one or set DEFAULT_MODEL`);
  if (defaults.length === 1) return defaults[0];
  return names.length === 1 ? names[0] : undefined;
}

async function readSamples(file: string, model: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    throw new RepositoryError(`model ${model}: warm-up samples ${file} (config.json warmup.samples) cannot be read: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** A warm-up samples file: one V2 inference request (JSON), or an array of them, checked against the model's inputs. */
function decodeSamples(text: string, file: string, model: Model): Tensors[] {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RepositoryError(`model ${model.name}: warm-up samples ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const requests = Array.isArray(json) ? json : [json];
  if (requests.length === 0) throw new RepositoryError(`model ${model.name}: warm-up samples ${file} holds no request; expected {"inputs": [...]} or an array of them`);
  return requests.map((request, i) => {
    try {
      return decodeV2Request(model, Buffer.from(JSON.stringify(request)), undefined).inputs;
    } catch (err) {
      throw new RepositoryError(`model ${model.name}: warm-up sample ${i + 1} in ${file} does not fit the model: ${(err as Error).message}`);
    }
  });
}
