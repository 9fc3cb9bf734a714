import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** <name>/config.json: optional settings of one model. */
export const modelConfigSchema = z.strictObject({
  default: z.boolean().optional(),
  labels: z.array(z.string().min(1)).min(1).optional(),
  max_batch_size: z.number().int().min(1).max(65536).optional(),
  batch_delay_ms: z.number().int().min(0).max(60_000).optional(),
  batch_timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
  description: z.string().optional(),
});

export type ModelConfig = z.output<typeof modelConfigSchema>;

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
