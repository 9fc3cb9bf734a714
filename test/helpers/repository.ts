// Builds throwaway model repositories (the MODEL_REPOSITORY layout) from committed fixture models.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/models/', import.meta.url));

/** Absolute path of a committed fixture model, e.g. fixturePath('add_one.onnx'). */
export function fixturePath(name: string): string {
  return join(FIXTURES_DIR, name);
}

export interface RepositoryModel {
  /** Written as <name>/config.json when present. */
  config?: object;
  /** version -> fixture file name (e.g. 'add_one.onnx') or raw bytes written as they are. */
  versions: Record<number, string | Uint8Array>;
  /** Other files in <name>/ (warm-up samples, say): file name -> contents. */
  files?: Record<string, string | Uint8Array>;
}

/**
 * Creates <dir>/<name>/config.json and <dir>/<name>/<version>/model.onnx in a fresh temp dir.
 * Raw bytes allow corrupt, empty or truncated models.
 */
export async function makeRepository(
  layout: Record<string, RepositoryModel>,
): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshserve-repo-'));
  try {
    for (const [name, model] of Object.entries(layout)) {
      const modelDir = join(dir, name);
      await mkdir(modelDir, { recursive: true });
      if (model.config !== undefined) {
        await writeFile(join(modelDir, 'config.json'), JSON.stringify(model.config, null, 2));
      }
      for (const [file, contents] of Object.entries(model.files ?? {})) await writeFile(join(modelDir, file), contents);
      for (const [version, source] of Object.entries(model.versions)) {
        const bytes = typeof source === 'string' ? await readFile(fixturePath(source)) : source;
        await mkdir(join(modelDir, version), { recursive: true });
        await writeFile(join(modelDir, version, 'model.onnx'), bytes);
      }
    }
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
