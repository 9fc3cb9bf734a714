// Triton's model repository extension (POST /v2/repository/index, /v2/repository/models/{name}/load and
// .../unload): its request and response bodies, and the errors its routes answer. No transport in here:
// the handlers parse the body with parseJsonBody() (an empty body is {}) and decode it with these.
import { z } from 'zod';
import { AppError, invalid } from '../errors.ts';
import { describeIssue } from './schemas.ts';

/** Triton's model states, as the index reports them. */
export const MODEL_STATES = ['READY', 'LOADING', 'UNLOADING', 'UNAVAILABLE'] as const;
export type ModelState = (typeof MODEL_STATES)[number];

export const RepositoryIndexRequest = z
  .object({
    ready: z.boolean({ message: 'expected true or false' }).optional().meta({ description: 'true: list only the versions that are ready' }),
  })
  .meta({ id: 'RepositoryIndexRequest', example: { ready: true } });

export const RepositoryIndexEntry = z
  .object({
    name: z.string(),
    version: z.string().optional().meta({ description: 'Absent for a model directory none of whose versions the server knows' }),
    state: z.enum(MODEL_STATES).optional(),
    reason: z.string().optional().meta({ description: 'Why the version is not READY: the load error, "unloaded", files still changing, ...' }),
  })
  .meta({ id: 'RepositoryIndexEntry' });

export const RepositoryIndexResponse = z
  .array(RepositoryIndexEntry)
  .meta({
    id: 'RepositoryIndexResponse',
    example: [
      { name: 'iris', version: '2', state: 'READY', reason: '' },
      { name: 'iris', version: '1', state: 'UNAVAILABLE', reason: 'unloaded' },
    ],
  });

/**
 * Triton lets a load carry the model's configuration ("config") and its files ("file:<path>") in
 * `parameters`. Here the repository is the one source of models (a read-only volume in Kubernetes), so
 * those are refused with a message that says so; other parameters are accepted and have no effect.
 */
const LoadParameters = z
  .record(z.string(), z.unknown())
  .superRefine((parameters, ctx) => {
    for (const key of Object.keys(parameters)) {
      if (key === 'config' || key.startsWith('file:')) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: `models are loaded from the model repository only; put ${key === 'config' ? 'config.json' : 'the files'} in MODEL_REPOSITORY/<name>/ instead of sending ${key === 'config' ? '"config"' : `"${key}"`}`,
        });
      }
    }
  });

export const RepositoryLoadRequest = z
  .object({ parameters: LoadParameters.optional() })
  .meta({ id: 'RepositoryLoadRequest', description: 'Loads the versions the model\'s version_policy selects, from the model repository', example: {} });

export const RepositoryUnloadRequest = z
  .object({
    parameters: z
      .object({
        unload_dependents: z.boolean({ message: 'expected true or false' }).optional().meta({ description: 'Accepted for Triton clients; no model here has dependents' }),
      })
      .catchall(z.unknown())
      .optional(),
  })
  .meta({ id: 'RepositoryUnloadRequest', example: { parameters: { unload_dependents: false } } });

/** What load and unload answer with 200 (Triton's clients read only the status). */
export const RepositoryActionResponse = z
  .object({
    name: z.string(),
    state: z.enum(MODEL_STATES).meta({ description: 'READY when at least one version serves after the call' }),
    versions: z.array(z.string()).meta({ description: 'The versions that serve after the call, ascending' }),
  })
  .meta({ id: 'RepositoryActionResponse', example: { name: 'iris', state: 'READY', versions: ['2'] } });

export type RepositoryIndexRequest = z.output<typeof RepositoryIndexRequest>;
export type RepositoryIndexEntry = z.output<typeof RepositoryIndexEntry>;
export type RepositoryLoadRequest = z.output<typeof RepositoryLoadRequest>;
export type RepositoryUnloadRequest = z.output<typeof RepositoryUnloadRequest>;
export type RepositoryActionResponse = z.output<typeof RepositoryActionResponse>;

function decode<T extends z.ZodType>(schema: T, json: unknown): z.output<T> {
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw invalid(describeIssue(parsed.error, ''));
  return parsed.data;
}

/** A parsed index body ({} when empty); a bad one is a 400 invalid_request naming the field. */
export const decodeIndexRequest = (json: unknown): RepositoryIndexRequest => decode(RepositoryIndexRequest, json);
export const decodeLoadRequest = (json: unknown): RepositoryLoadRequest => decode(RepositoryLoadRequest, json);
export const decodeUnloadRequest = (json: unknown): RepositoryUnloadRequest => decode(RepositoryUnloadRequest, json);

/**
 * The index, in a stable order: by name, then by version, highest first; with `ready`, only READY entries.
 * Every entry carries a reason, "" when there is nothing to say (Triton sends one too).
 */
export function encodeIndex(entries: readonly RepositoryIndexEntry[], request: RepositoryIndexRequest = {}): RepositoryIndexEntry[] {
  return entries
    .filter((e) => !request.ready || e.state === 'READY')
    .map((e) => (e.version === undefined ? { name: e.name, ...(e.state ? { state: e.state } : {}), reason: e.reason ?? '' } : { name: e.name, version: e.version, state: e.state ?? 'UNAVAILABLE', reason: e.reason ?? '' }))
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : Number(b.version ?? 0) - Number(a.version ?? 0)));
}

export type ModelControlMode = 'none' | 'poll' | 'explicit';

/** The errors of the repository routes, beside the usual 400 invalid_request / invalid_json and 404 model_not_found. */
export const repositoryErrors = {
  /** load or unload outside explicit mode. */
  controlDisabled(mode: Exclude<ModelControlMode, 'explicit'>, action: 'load' | 'unload'): AppError {
    const why = mode === 'none'
      ? 'models are loaded once at start (MODEL_CONTROL_MODE=none)'
      : 'the repository poller decides what is loaded (MODEL_CONTROL_MODE=poll): change the files in the repository instead';
    return new AppError('model_control_disabled', 409, `cannot ${action} models through the API: ${why}; set MODEL_CONTROL_MODE=explicit to load and unload with it`);
  },
  /** The files of a version changed while a load read them: a copy is still in progress. */
  filesChanging(name: string, version: number): AppError {
    return new AppError('model_files_changing', 409, `model "${name}" version ${version} is still being written (its files changed while they were read); retry when the copy is complete`);
  },
  /** No version to load: the model directory holds none, or the version policy selects none that is there. */
  noVersion(name: string, detail: string): AppError {
    return new AppError('model_version_unavailable', 409, `model "${name}" has no version to load: ${detail}`);
  },
  /** The version could not be loaded or warmed up; what served before still serves. */
  loadFailed(name: string, version: number, reason: string): AppError {
    return new AppError('model_load_failed', 422, `model "${name}" version ${version} failed to load: ${reason}; the versions that served before still serve`);
  },
  /** Loading it next to what serves would not fit under MEMORY_LIMIT. */
  noMemory(name: string, version: number, neededBytes: number, availableBytes: number): AppError {
    const mib = (n: number) => `${Math.ceil(n / 2 ** 20)} MiB`;
    return new AppError('model_memory_exhausted', 409, `model "${name}" version ${version} needs about ${mib(neededBytes)} while it loads next to the versions it replaces, and ${mib(availableBytes)} are free under MEMORY_LIMIT; unload a version first or raise the memory limit`);
  },
};
