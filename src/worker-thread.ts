import { Worker } from 'node:worker_threads';

/**
 * Starts a worker thread from a module next to the caller: the built service runs the .js file; tests and
 * tools running the TypeScript sources load the .ts file through tsx.
 */
export function startWorker(callerUrl: string, name: string, workerData?: unknown): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const url = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, callerUrl);
  if (!fromSource) return new Worker(url, { workerData });
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData });
}
