import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { versionPolicySchema } from './version-policy.ts';

/** Most input features one model may track for drift; a wider model names the ones to track (reference.features). */
export const MAX_TRACKED_FEATURES = 32;

/** One tracked input feature: a column of the input and its training mean and standard deviation. */
const referenceFeatureSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/, 'a feature name is a letter or "_" then up to 63 letters, digits, "_", ".", ":" or "-"'),
  /** Column of the 2-D input [rows, columns]; defaults to the feature's position in the list. */
  index: z.number().int().min(0).optional(),
  mean: z.number(),
  std: z.number().positive(),
});

/** The training data's statistics, for drift metrics: per feature mean and std, and the class priors. */
const referenceSchema = z.strictObject({
  /** The input the features are columns of; defaults to the model's only input. */
  input: z.string().min(1).optional(),
  features: z
    .array(referenceFeatureSchema)
    .min(1)
    .max(MAX_TRACKED_FEATURES, `at most ${MAX_TRACKED_FEATURES} features are tracked; list the ones to track, each with its column "index"`)
    .optional(),
  /** Share of each label in the training data, keyed by label. */
  priors: z.record(z.string(), z.number().min(0).max(1)).optional(),
});

/**
 * How a model is warmed up before it takes traffic: "auto" runs zero inputs and only warns when the model
 * rejects them; "none" skips warm-up; samples names a JSON file in the model's directory holding a V2
 * inference request (or an array of them) that must run, or the model does not load.
 */
const warmupSchema = z.union([
  z.enum(['auto', 'none']),
  z.strictObject({
    samples: z.string().regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.json$/, 'a file name in the model directory ending in .json (no path)'),
  }),
]);

/** <name>/config.json: optional settings of one model. */
export const modelConfigSchema = z.strictObject({
  default: z.boolean().optional(),
  labels: z.array(z.string().min(1)).min(1).optional(),
  max_batch_size: z.number().int().min(1).max(65536).optional(),
  batch_delay_ms: z.number().int().min(0).max(60_000).optional(),
  batch_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
  description: z.string().optional(),
  warmup: warmupSchema.optional(),
  reference: referenceSchema.optional(),
  /** Which versions are served: {"latest": {"num_versions": N}} (default N = 1), {"all": {}} or {"specific": {"versions": [...]}}. */
  version_policy: versionPolicySchema.optional(),
}).superRefine(checkReference);

export type ModelConfig = z.output<typeof modelConfigSchema>;
export type ReferenceConfig = NonNullable<ModelConfig['reference']>;

/** reference: feature names and columns unique, priors keyed by the config's labels and summing to 1. */
function checkReference(config: { labels?: string[]; reference?: z.output<typeof referenceSchema> }, ctx: z.RefinementCtx): void {
  const reference = config.reference;
  if (!reference) return;
  const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path: ['reference', ...path], message });
  const names = new Set<string>();
  const columns = new Set<number>();
  reference.features?.forEach((f, i) => {
    if (names.has(f.name)) issue(['features', i, 'name'], `feature "${f.name}" is listed twice`);
    const column = f.index ?? i;
    if (columns.has(column)) issue(['features', i, 'index'], `column ${column} is tracked twice`);
    names.add(f.name);
    columns.add(column);
  });
  if (reference.priors) {
    if (!config.labels) return issue(['priors'], 'priors need "labels"');
    const unknown = Object.keys(reference.priors).find((l) => !config.labels!.includes(l));
    if (unknown !== undefined) issue(['priors', unknown], `"${unknown}" is not one of labels (${config.labels.join(', ')})`);
    const total = Object.values(reference.priors).reduce((a, b) => a + b, 0);
    if (Math.abs(total - 1) > 0.01) issue(['priors'], `priors sum to ${total}, not 1`);
  }
}

export class RepositoryError extends Error {
  override name = 'RepositoryError';
}

/** Reads and validates a model's config.json; a missing file is an empty config. */
export async function readModelConfig(file: string): Promise<ModelConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new RepositoryError(`${file} cannot be read: ${(err as NodeJS.ErrnoException).code}`);
  }
  return parseModelConfig(text, file);
}

/** Validates the text of a model's config.json (undefined: no file, an empty config); `file` names it in errors. */
export function parseModelConfig(text: string | undefined, file: string): ModelConfig {
  if (text === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new RepositoryError(`${file} is not valid JSON: ${(err as Error).message}`);
  }
  const parsed = modelConfigSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new RepositoryError(`${file}: ${issue.path.join('.') || 'config'}: ${issue.message} (accepted keys: ${Object.keys(modelConfigSchema.shape).join(', ')})`);
  }
  return parsed.data;
}
