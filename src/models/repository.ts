import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { notFound, unavailable } from '../errors.ts';
import type { Metrics } from '../metrics.ts';
import { readModelConfig, RepositoryError, type ModelConfig } from './config.ts';
import { DEFAULT_SUPERVISION, Model, type Supervision } from './model.ts';
import { WorkerSession } from './session.ts';

export { RepositoryError };

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const VERSION = /^[1-9][0-9]{0,8}$/;

export interface RepositoryOptions {
  config: Config;
  metrics: Metrics;
  logger: Logger;
  clock?: Clock;
  /** How workers are restarted; onGiveUp defaults to logging only (main.ts exits the process). */
  supervision?: Partial<Supervision>;
}

type State = 'loading' | 'ready' | 'failed';

/** The models under MODEL_REPOSITORY: <name>/config.json (optional) and <name>/<version>/model.onnx. */
export class ModelRepository {
  readonly #o: RepositoryOptions;
  readonly #models = new Map<string, Map<number, Model>>();
  #state: State = 'loading';
  #defaultName: string | undefined;

  constructor(options: RepositoryOptions) {
    this.#o = options;
  }

  get state(): State {
    return this.#state;
  }

  get defaultModelName(): string | undefined {
    return this.#defaultName;
  }

  /** Reasons the repository is not ready; empty when every model is loaded and warmed up. */
  notReadyReasons(): string[] {
    if (this.#state === 'loading') return ['models are loading'];
    if (this.#state === 'failed') return ['model loading failed'];
    const reasons: string[] = [];
    for (const m of this.all()) {
      const reason = m.notReadyReason();
      if (reason) reasons.push(reason);
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
    for (const name of dirs) {
      if (!NAME.test(name)) throw new RepositoryError(`model directory ${path.join(root, name)}: a model name uses letters, digits, "_", "." and "-" (at most 128)`);
      const modelConfig = await readModelConfig(path.join(root, name, 'config.json'));
      if (modelConfig.default) defaults.push(name);
      const versionDirs = (await readdir(path.join(root, name), { withFileTypes: true }))
        .filter((e) => e.isDirectory() && VERSION.test(e.name))
        .map((e) => Number(e.name))
        .sort((a, b) => a - b);
      if (versionDirs.length === 0) throw new RepositoryError(`model ${name}: ${path.join(root, name)} has no version directory (expected ${name}/1/model.onnx)`);
      const versions = new Map<number, Model>();
      this.#models.set(name, versions);
      for (const version of versionDirs) {
        const file = path.join(root, name, String(version), 'model.onnx');
        const started = performance.now();
        const model = await this.#loadOne(name, version, file, modelConfig);
        versions.set(version, model);
        const seconds = (performance.now() - started) / 1000;
        this.#o.metrics.modelLoadDuration.set({ model: name, version: String(version) }, seconds);
        logger.info({ model: name, version, file, inputs: model.inputs, outputs: model.outputs, batchable: model.batchable, maxBatchSize: model.maxBatchSize, loadSeconds: seconds }, 'model loaded');
      }
    }
    this.#defaultName = pickDefault(config.DEFAULT_MODEL, defaults, dirs);
  }

  async #loadOne(name: string, version: number, file: string, modelConfig: ModelConfig): Promise<Model> {
    const { config, metrics, logger, clock } = this.#o;
    let info;
    try {
      info = await stat(file);
    } catch {
      throw new RepositoryError(`model ${name} version ${version}: file ${file} is missing`);
    }
    if (!info.isFile() || info.size === 0) throw new RepositoryError(`model ${name} version ${version}: file ${file} is empty or not a file`);
    const session = new WorkerSession();
    let model: Model;
    try {
      const signature = await session.load(file, config.ORT_INTRA_OP_THREADS);
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
        intraOpThreads: config.ORT_INTRA_OP_THREADS,
        supervision: {
          ...DEFAULT_SUPERVISION,
          maxFailures: config.WORKER_MAX_RESTARTS,
          onGiveUp: (reason) => logger.fatal({ reason }, 'a model keeps failing'),
          ...this.#o.supervision,
        },
        metrics,
        logger,
        clock,
      });
      if (modelConfig.labels) {
        const out = model.outputs[0];
        const classes = out?.shape.at(-1);
        if (model.outputs.length !== 1 || classes === undefined || (classes !== -1 && classes !== modelConfig.labels.length)) {
          throw new Error(`config.json lists ${modelConfig.labels.length} labels but the model's output is ${model.outputs.map((o) => `${o.name} ${JSON.stringify(o.shape)}`).join(', ')}`);
        }
      }
      await model.warmUp();
    } catch (err) {
      await session.close().catch(() => undefined);
      if (err instanceof RepositoryError) throw err;
      throw new RepositoryError(`model ${name} version ${version}: ${file} cannot be served: ${(err as Error).message}`);
    }
    return model;
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
  }
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
