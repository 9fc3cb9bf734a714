import { Worker } from 'node:worker_threads';
import { transferList } from '../tensors/transfer.ts';
import type { ElementType, TensorData, Tensors } from '../tensors/types.ts';

export interface RawSpec {
  name: string;
  type: ElementType | string;
  /** -1 for a dynamic or symbolic dimension. */
  shape: number[];
}

export type WorkerRequest =
  | { id: number; kind: 'load'; path: string; intraOpThreads: number }
  | { id: number; kind: 'run'; inputs: Tensors }
  | { id: number; kind: 'release' };

export type WorkerReply =
  | { id: number; ok: true; signature?: { inputs: RawSpec[]; outputs: RawSpec[] }; outputs?: Tensors }
  | { id: number; ok: false; error: string };

/** An error raised by onnxruntime inside the worker. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

const FROM_SOURCE = import.meta.url.endsWith('.ts');
const WORKER_URL = new URL(FROM_SOURCE ? './worker.ts' : './worker.js', import.meta.url);

/** The built service runs worker.js; tests and tools running the TypeScript sources load worker.ts through tsx. */
function startWorker(): Worker {
  if (!FROM_SOURCE) return new Worker(WORKER_URL);
  const bootstrap = `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(WORKER_URL.href)}); });`;
  return new Worker(bootstrap, { eval: true });
}

/** Main-thread handle on an onnxruntime session living in its own worker thread. */
export class WorkerSession {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: WorkerReply & { ok: true }) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #dead: Error | undefined;

  constructor(onExit?: (error: Error) => void) {
    this.#worker = startWorker();
    this.#worker.on('message', (msg: WorkerReply) => {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (msg.ok) p.resolve(msg);
      else p.reject(new RuntimeError(msg.error));
    });
    const fail = (error: Error) => {
      if (this.#dead) return;
      this.#dead = error;
      for (const p of this.#pending.values()) p.reject(error);
      this.#pending.clear();
      onExit?.(error);
    };
    this.#worker.on('error', (err) => fail(new RuntimeError(`inference worker crashed: ${err.message}`)));
    this.#worker.on('exit', (code) => fail(new RuntimeError(`inference worker exited with code ${code}`)));
  }

  #call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      this.#worker.postMessage(request, transfer);
    });
  }

  async load(path: string, intraOpThreads: number): Promise<{ inputs: RawSpec[]; outputs: RawSpec[] }> {
    const reply = await this.#call({ id: this.#nextId++, kind: 'load', path, intraOpThreads });
    return reply.signature!;
  }

  /** Runs the model. Input buffers are transferred to the worker: callers must not reuse them. */
  async run(inputs: Tensors): Promise<Tensors> {
    const reply = await this.#call({ id: this.#nextId++, kind: 'run', inputs }, transferList(inputs));
    return reply.outputs!;
  }

  async close(): Promise<void> {
    if (!this.#dead) {
      await this.#call({ id: this.#nextId++, kind: 'release' }).catch(() => undefined);
    }
    this.#dead ??= new RuntimeError('session closed');
    await this.#worker.terminate();
  }
}
