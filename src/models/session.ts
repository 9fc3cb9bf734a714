import type { Worker } from 'node:worker_threads';
import { transferList } from '../tensors/transfer.ts';
import { startWorker } from '../worker-thread.ts';
import type { ElementType, Tensors } from '../tensors/types.ts';

export interface RawSpec {
  name: string;
  type: ElementType | string;
  /** -1 for a dynamic or symbolic dimension. */
  shape: number[];
}

/** onnxruntime's log levels; the worker passes its level to every session it creates. */
export type OrtLogLevel = 'verbose' | 'info' | 'warning' | 'error' | 'fatal';

export interface WorkerSettings {
  intraOpThreads: number;
  ortLogLevel: OrtLogLevel;
}

export type WorkerRequest =
  | { id: number; kind: 'load'; session: number; path: string; logId: string }
  | { id: number; kind: 'run'; session: number; inputs: Tensors }
  /** Releases one session, or every session of the worker when `session` is undefined. */
  | { id: number; kind: 'release'; session?: number };

export type WorkerReply =
  | { id: number; ok: true; signature?: { inputs: RawSpec[]; outputs: RawSpec[] }; outputs?: Tensors }
  | { id: number; ok: false; error: string };

/** An error raised by onnxruntime inside the worker. */
export class RuntimeError extends Error {
  override name = 'RuntimeError';
}

/** The worker thread is gone (it crashed, exited or was terminated): nothing sent to it will be answered. */
export class WorkerGoneError extends RuntimeError {
  override name = 'WorkerGoneError';
}

/** Main-thread handle on one inference worker thread and the onnxruntime sessions it holds, by number. */
export class InferenceWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, { resolve: (r: WorkerReply & { ok: true }) => void; reject: (e: Error) => void }>();
  #nextId = 1;
  #dead: Error | undefined;
  #onExit: ((error: Error) => void) | undefined;

  constructor(settings: WorkerSettings) {
    this.#worker = startWorker(import.meta.url, 'worker', settings);
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
      this.#onExit?.(error);
    };
    this.#worker.on('error', (err) => fail(new WorkerGoneError(`inference worker crashed: ${err.message}`)));
    this.#worker.on('exit', (code) => fail(new WorkerGoneError(`inference worker exited with code ${code}`)));
  }

  /** Called once if the worker stops on its own (not after close() or abandon()). */
  onExit(listener: (error: Error) => void): void {
    this.#onExit = listener;
  }

  /** The thread's id, for logs. */
  get threadId(): number {
    return this.#worker.threadId;
  }

  #call(request: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<WorkerReply & { ok: true }> {
    if (this.#dead) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => {
      this.#pending.set(request.id, { resolve, reject });
      this.#worker.postMessage(request, transfer);
    });
  }

  /** Creates session number `session` from a model file (replacing one of that number) and returns its signature. */
  async load(session: number, path: string, logId: string): Promise<{ inputs: RawSpec[]; outputs: RawSpec[] }> {
    const reply = await this.#call({ id: this.#nextId++, kind: 'load', session, path, logId });
    return reply.signature!;
  }

  /** Runs a session. Input buffers are transferred to the worker: callers must not reuse them. */
  async run(session: number, inputs: Tensors): Promise<Tensors> {
    const reply = await this.#call({ id: this.#nextId++, kind: 'run', session, inputs }, transferList(inputs));
    return reply.outputs!;
  }

  async release(session: number): Promise<void> {
    await this.#call({ id: this.#nextId++, kind: 'release', session });
  }

  async close(): Promise<void> {
    if (!this.#dead) {
      await this.#call({ id: this.#nextId++, kind: 'release' }).catch(() => undefined);
    }
    this.#dead ??= new WorkerGoneError('worker closed');
    await this.#worker.terminate();
  }

  /**
   * Gives up on the worker without waiting for it: calls in flight fail at once with `error`, and the
   * thread is released and terminated once it is idle. It cannot be stopped sooner: terminating a worker
   * while onnxruntime computes on it aborts the whole process (seen with onnxruntime-node 1.30), so a
   * native call that never returns keeps its thread until the process ends.
   */
  abandon(error: Error): void {
    if (this.#dead) return;
    this.#dead = error;
    for (const p of this.#pending.values()) p.reject(error);
    this.#pending.clear();
    // Messages are handled in order: this release runs after the call in progress returns.
    const id = this.#nextId++;
    const onReply = (msg: WorkerReply) => {
      if (msg.id !== id) return;
      this.#worker.off('message', onReply);
      void this.#worker.terminate();
    };
    this.#worker.on('message', onReply);
    this.#worker.postMessage({ id, kind: 'release' } satisfies WorkerRequest);
  }
}
