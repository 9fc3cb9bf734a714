import { readdir, stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { z } from 'zod';
import { parseQuantity } from './memory.ts';

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

/** Parses "16mb", "512kb", "1048576" into bytes; undefined when it is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)\s*(b|kb|mb|gb)?$/i.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()]!;
}

const int = (min: number, max: number, fallback: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, { message: `an integer from ${min} to ${max}` })
    .transform(Number)
    .pipe(z.number().int().min(min, { message: `an integer from ${min} to ${max}` }).max(max, { message: `an integer from ${min} to ${max}` }))
    .default(fallback);

const port = (fallback: number) => int(0, 65535, fallback);

/** An IPv4 or IPv6 address, or a DNS host name (letters, digits and "-" in dot-separated labels). */
function isHost(text: string): boolean {
  if (isIP(text) !== 0) return true;
  if (/^[\d.]+$/.test(text)) return false; // looks like an IPv4 address but is not one
  return text.length <= 253 && /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\.?$/i.test(text);
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** Triton's names: none loads the repository once at start, poll follows it, explicit changes only through the repository API. */
export const MODEL_CONTROL_MODES = ['none', 'poll', 'explicit'] as const;

const envSchema = z.object({
  PORT: port(8080),
  METRICS_PORT: port(9090),
  GRPC_PORT: port(8081),
  HOST: z.string().trim().refine(isHost, { message: 'an IP address (0.0.0.0, ::, 127.0.0.1) or a host name' }).default('0.0.0.0'),
  MODEL_REPOSITORY: z.string().trim().min(1, { message: 'a directory path' }).default('./models'),
  DEFAULT_MODEL: z.string().trim().min(1, { message: 'a model name' }).optional(),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  LOG_PRETTY: z.enum(['true', 'false', '1', '0'], { message: 'true or false' }).default('false').transform((v) => v === 'true' || v === '1'),
  MAX_BATCH_SIZE: int(1, 65536, 32),
  BATCH_DELAY_MS: int(0, 60_000, 2),
  MAX_QUEUE_SIZE: int(1, 1_000_000, 1024),
  REQUEST_TIMEOUT_MS: int(1, 3_600_000, 10_000),
  BODY_LIMIT: z
    .string()
    .trim()
    .default('16mb')
    .transform((v, ctx) => {
      const bytes = parseSize(v);
      if (bytes === undefined || bytes < 1) {
        ctx.addIssue({ code: 'custom', message: 'a size such as 16mb, 512kb or 1048576' });
        return z.NEVER;
      }
      return bytes;
    }),
  MEMORY_LIMIT: z
    .string()
    .trim()
    .transform((v, ctx) => {
      const bytes = parseQuantity(v);
      if (bytes === undefined) {
        ctx.addIssue({ code: 'custom', message: 'bytes or a Kubernetes quantity such as 1Gi, 512Mi or 1073741824' });
        return z.NEVER;
      }
      return bytes;
    })
    .optional(),
  SHUTDOWN_DELAY_MS: int(0, 600_000, 5000),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000, 25_000),
  ORT_INTRA_OP_THREADS: int(1, 256, 1),
  BATCH_TIMEOUT_MS: int(1, 3_600_000, 60_000),
  WORKER_MAX_RESTARTS: int(0, 1000, 5),
  /** Inference worker threads; unset: the CPUs the process may use (main.ts: cgroup quota included). */
  INFERENCE_WORKERS: z
    .string()
    .trim()
    .regex(/^\d+$/, { message: 'an integer from 1 to 64' })
    .transform(Number)
    .pipe(z.number().int().min(1, { message: 'an integer from 1 to 64' }).max(64, { message: 'an integer from 1 to 64' }))
    .optional(),
  MODEL_CONTROL_MODE: z.enum(MODEL_CONTROL_MODES, { message: `one of ${MODEL_CONTROL_MODES.join(', ')}` }).default('none'),
  MODEL_POLL_SECONDS: int(1, 86_400, 15),
  REPOSITORY_API: z.enum(['on', 'off'], { message: 'on or off' }).default('on').transform((v) => v === 'on'),
});

export type Config = Readonly<z.output<typeof envSchema>>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates the environment once; the result is frozen. Throws ConfigError with one line per bad variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set": Kubernetes and shells often pass VAR= for unset values.
  const present = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const result = envSchema.safeParse(present);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? 'environment');
      return `invalid ${name}=${JSON.stringify(env[name] ?? '')}: expected ${issue.message}`;
    });
    throw new ConfigError(lines.join('\n'));
  }
  const { PORT, METRICS_PORT, GRPC_PORT } = result.data;
  if (PORT === METRICS_PORT && PORT !== 0) {
    throw new ConfigError(`invalid METRICS_PORT=${JSON.stringify(env.METRICS_PORT ?? String(METRICS_PORT))}: expected a port other than PORT (both are ${PORT}; 0 picks a free one)`);
  }
  // GRPC_PORT=0 turns gRPC off, so it never picks a free port and never clashes.
  for (const [name, other] of [['PORT', PORT], ['METRICS_PORT', METRICS_PORT]] as const) {
    if (GRPC_PORT !== 0 && GRPC_PORT === other) {
      throw new ConfigError(`invalid GRPC_PORT=${JSON.stringify(env.GRPC_PORT ?? String(GRPC_PORT))}: expected a port other than ${name} (both are ${GRPC_PORT}; 0 turns gRPC off)`);
    }
  }
  return Object.freeze(result.data);
}

/**
 * The checks of the configuration that need the filesystem, run before anything listens: MODEL_REPOSITORY is
 * a directory, and DEFAULT_MODEL (when set) is one of the model directories in it (matched against the
 * listing, never joined into a path). Throws ConfigError naming the variable.
 */
export async function checkModelRepository(config: Pick<Config, 'MODEL_REPOSITORY' | 'DEFAULT_MODEL'>): Promise<void> {
  const repo = config.MODEL_REPOSITORY;
  const isDir = await stat(repo).then(
    (s) => (s.isDirectory() ? '' : 'not a directory'),
    (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'no such directory' : (err.code ?? 'cannot be read')),
  );
  if (isDir) throw new ConfigError(`invalid MODEL_REPOSITORY=${JSON.stringify(repo)}: expected a model repository directory (${isDir})`);
  if (config.DEFAULT_MODEL === undefined) return;
  let models: string[];
  try {
    models = (await readdir(repo, { withFileTypes: true })).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  } catch (err) {
    throw new ConfigError(`invalid MODEL_REPOSITORY=${JSON.stringify(repo)}: expected a readable directory (${(err as NodeJS.ErrnoException).code ?? 'cannot be read'})`);
  }
  if (!models.includes(config.DEFAULT_MODEL)) {
    throw new ConfigError(
      `invalid DEFAULT_MODEL=${JSON.stringify(config.DEFAULT_MODEL)}: expected the name of a model directory in MODEL_REPOSITORY (${models.length ? models.join(', ') : 'it holds none'})`,
    );
  }
}

/** Every environment variable the service reads (the docs' configuration table must list each one). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
