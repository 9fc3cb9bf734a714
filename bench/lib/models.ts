import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { mlpModel } from '../../scripts/onnx/index.ts';
import { ROOT } from './service.ts';

export const MLP_SIZES = [1024, 2048, 2048, 1000] as const;
export const MLP_SEED = 42;

/**
 * A throw-away model repository: the shipped iris model plus a compute-bound MLP with synthetic
 * (seeded random) weights, generated here and never committed.
 */
export function makeRepository(): { dir: string; mlpPath: string; remove: () => void } {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshserve-bench-'));
  cpSync(path.join(ROOT, 'models', 'iris'), path.join(dir, 'iris'), { recursive: true });
  const mlpDir = path.join(dir, 'mlp', '1');
  mkdirSync(mlpDir, { recursive: true });
  const mlpPath = path.join(mlpDir, 'model.onnx');
  writeFileSync(mlpPath, mlpModel({ sizes: [...MLP_SIZES], seed: MLP_SEED }));
  writeFileSync(
    path.join(dir, 'mlp', 'config.json'),
    JSON.stringify({ description: `synthetic MLP ${MLP_SIZES.join('-')} for load tests (seeded random weights)` }),
  );
  return { dir, mlpPath, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
