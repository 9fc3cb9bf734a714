// Live model management (MODEL_CONTROL_MODE): the repository poller and the repository API's load, unload
// and index, on top of the pure bookkeeping of scan.ts (stability, version policies, plan) and the
// repository's live loadVersion / unloadVersion. One change runs at a time.
import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { AppError, notFound } from '../errors.ts';
import { encodeIndex, repositoryErrors, type ModelControlMode, type RepositoryActionResponse, type RepositoryIndexEntry } from '../codecs/repository-api.ts';
import type { ModelRepository } from './repository.ts';
import { desiredState, plan, scanModel, scanRepository, StabilityTracker, type ObservedRepository, type Plan } from './scan.ts';

export interface ModelControlOptions {
  mode: ModelControlMode;
  /** MODEL_REPOSITORY. */
  root: string;
  pollSeconds: number;
  repository: ModelRepository;
  clock: Clock;
  logger: Logger;
  /** Takes memory out of the request budget for a version loaded at run time (release function), or refuses with an error. */
  reserve?: (name: string, version: number, bytes: number) => (() => void) | Error;
}

/** An explicit load reads the model's files twice this far apart: files still being written are not loaded. */
export const EXPLICIT_STABILITY_MS = 1000;

const key = (r: { name: string; version: number }) => `${r.name}:${r.version}`;

export class ModelControl {
  readonly #o: ModelControlOptions;
  readonly #tracker = new StabilityTracker();
  #chain: Promise<unknown> = Promise.resolve();
  #timer: unknown;
  #stopped = false;

  constructor(options: ModelControlOptions) {
    this.#o = options;
  }

  get mode(): ModelControlMode {
    return this.#o.mode;
  }

  /** After the repository's first load: remembers what it was loaded from, and starts polling in poll mode. */
  async start(): Promise<void> {
    if (this.#o.mode === 'none') return;
    const observed = this.#tracker.observe(await scanRepository(this.#o.root));
    this.#o.repository.noteOrigins((name, version) => {
      const model = observed.models.get(name);
      const v = model?.versions.find((x) => x.version === version);
      return model && v ? { fingerprint: v.fingerprint, configHash: model.configHash } : undefined;
    });
    if (this.#o.mode === 'poll') {
      this.#o.logger.info({ pollSeconds: this.#o.pollSeconds }, 'polling the model repository for changes');
      this.#schedule();
    }
  }

  /** Stops polling and waits for the change under way. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    await this.#chain.catch(() => undefined);
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = this.#o.clock.setTimeout(() => {
      void this.#serial(() => this.poll()).finally(() => this.#schedule());
    }, this.#o.pollSeconds * 1000);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(work, work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  /**
   * One scan of the repository and the changes it calls for. A scan that fails (the volume is away for a
   * moment) and a version that fails to load are logged; the poller goes on at its next period.
   */
  async poll(): Promise<Plan | undefined> {
    const { logger, repository } = this.#o;
    let observed: ObservedRepository;
    try {
      observed = this.#tracker.observe(await scanRepository(this.#o.root));
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'model repository scan failed; keeping what serves, trying again at the next poll');
      return undefined;
    }
    const steps = plan(desiredState(observed), repository.instances());
    for (const w of steps.waiting) logger.debug({ model: w.name, version: w.version, reason: w.reason }, 'model repository change held back');
    await this.#execute(steps, observed);
    return steps;
  }

  /** Loads first; an unload runs only when every version it waits for serves. */
  async #execute(steps: Plan, observed: ObservedRepository): Promise<{ failed: Map<string, Error> }> {
    const { repository, logger } = this.#o;
    const failed = new Map<string, Error>();
    for (const step of steps.load) {
      const result = await repository.loadVersion(step, observed.models.get(step.name)?.configText, this.#o.reserve && ((bytes) => this.#o.reserve!(step.name, step.version, bytes)));
      if (!result.ok) failed.set(key(step), result.error);
    }
    for (const u of steps.unload) {
      const blocked = u.after.find((ref) => failed.has(key(ref)) || !repository.versions(ref.name).includes(ref.version));
      if (blocked) {
        logger.info({ model: u.name, version: u.version, waitingFor: key(blocked) }, 'model version kept serving: the version that replaces it is not serving');
        continue;
      }
      await repository.unloadVersion(u.name, u.version, u.reason);
    }
    return { failed };
  }

  /** POST /v2/repository/models/{name}/load (explicit mode): loads the versions the model's policy selects. */
  load(name: string): Promise<RepositoryActionResponse> {
    const { mode, repository, root, clock } = this.#o;
    if (mode !== 'explicit') return Promise.reject(repositoryErrors.controlDisabled(mode, 'load'));
    return this.#serial(async () => {
      const first = await scanModel(root, name);
      if (!first.model) throw notFound('model_not_found', `no model "${name.slice(0, 128)}" in the model repository (expected ${root}/<name>/<version>/model.onnx)`);
      this.#tracker.observeModel(name, first.model);
      await new Promise<void>((resolve) => clock.setTimeout(resolve, EXPLICIT_STABILITY_MS));
      const observedModel = this.#tracker.observeModel(name, (await scanModel(root, name)).model);
      if (!observedModel) throw notFound('model_not_found', `model "${name}" left the model repository while it was read`);
      const observed: ObservedRepository = { root, models: new Map([[name, observedModel]]), problems: [] };
      const desired = desiredState(observed);
      const want = desired.get(name)!;
      if (want.policyError) throw repositoryErrors.noVersion(name, want.policyError);
      if (!want.configStable) throw repositoryErrors.filesChanging(name, want.versions.at(-1)?.version ?? 0);
      const changing = want.versions.find((v) => !v.stable);
      if (changing) throw repositoryErrors.filesChanging(name, changing.version);
      if (want.versions.length === 0) throw repositoryErrors.noVersion(name, want.available.length ? `version_policy selects none of ${want.available.join(', ')}` : 'no version directory holds a model.onnx');
      // An explicit load tries again what failed before, as Triton does.
      repository.forgetAttempts(name);
      const steps = plan(desired, repository.instances(), { only: new Set([name]) });
      const { failed } = await this.#execute(steps, observed);
      const [failure] = failed.entries();
      if (failure) {
        const [ref, error] = failure;
        if (error instanceof AppError) throw error; // model_memory_exhausted: it says why already
        throw repositoryErrors.loadFailed(name, Number(ref.split(':').at(-1)), error.message);
      }
      const versions = repository.versions(name);
      return { name, state: versions.length ? 'READY' : 'UNAVAILABLE', versions: versions.map(String) };
    });
  }

  /** POST /v2/repository/models/{name}/unload (explicit mode): every version; requests in flight on them finish. */
  unload(name: string): Promise<RepositoryActionResponse> {
    const { mode, repository } = this.#o;
    if (mode !== 'explicit') return Promise.reject(repositoryErrors.controlDisabled(mode, 'unload'));
    return this.#serial(async () => {
      const versions = repository.versions(name);
      const attempts = repository.instances().some((i) => i.name === name);
      if (versions.length === 0 && !attempts && !(await scanModel(this.#o.root, name)).model) {
        throw notFound('model_not_found', `no model "${name.slice(0, 128)}" is loaded or in the model repository; loaded: ${repository.names().join(', ') || 'none'}`);
      }
      repository.forgetAttempts(name);
      await Promise.all(versions.map((v) => repository.unloadVersion(name, v, 'repository API')));
      return { name, state: 'UNAVAILABLE', versions: [] };
    });
  }

  /** POST /v2/repository/index: every model in the repository, and each version the server knows, with its state. */
  async index(ready = false): Promise<RepositoryIndexEntry[]> {
    const { repository, root } = this.#o;
    const entries: RepositoryIndexEntry[] = repository.instances().map((i) => ({
      name: i.name,
      version: String(i.version),
      state: i.state === 'loading' ? 'LOADING' : i.state === 'ready' && !i.reason ? 'READY' : 'UNAVAILABLE',
      reason: i.reason ?? '',
    }));
    const known = new Set(entries.map((e) => e.name));
    const scan = await scanRepository(root).catch(() => undefined);
    for (const name of scan?.models.keys() ?? []) if (!known.has(name)) entries.push({ name, reason: 'not loaded' });
    return encodeIndex(entries, { ready });
  }
}
