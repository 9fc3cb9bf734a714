// Codec work on the main thread or in the codec worker: a 14 MB JSON body takes hundreds of milliseconds
// to parse and decode, and its response as long to print; done on the main thread that would stall
// /healthz past the liveness probe's timeout. Small bodies stay on the main thread (no hop).
import type { Worker } from 'node:worker_threads';
import { AppError } from '../errors.ts';
import { transferList } from '../tensors/transfer.ts';
import type { Tensors } from '../tensors/types.ts';
import { startWorker } from '../worker-thread.ts';
import { jobs, type JobName, type Jobs } from './jobs.ts';
import type { RowRequest } from './rows.ts';
import { signatureOf, type Signature } from './signature.ts';
import type { EncodedResponse, SelectedOutput, V2Request } from './v2.ts';

/** Bodies from this size on are decoded in the codec worker. */
export const OFFLOAD_BODY_BYTES = 256 * 1024;
/** Responses of at least this many output elements are encoded in the codec worker. */
export const OFFLOAD_OUTPUT_ELEMENTS = 64 * 1024;

export interface CodecRequest {
  id: number;
  job: JobName;
  args: unknown[];
}

export interface CodecReply {
  id: number;
  result?: unknown;
  error?: { message: string; code?: string; status?: number; headers?: Record<string, string> };
}

/** A Buffer that owns its whole ArrayBuffer (so it can be transferred), copying when it is a view into a larger one. */
export function ownedBuffer(bytes: Uint8Array): Buffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength) return Buffer.from(bytes.buffer, 0, bytes.byteLength);
  const copy = Buffer.allocUnsafeSlow(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

const elements = (tensors: Tensors) => Object.values(tensors).reduce((n, t) => n + t.data.length, 0);

export class Codecs {
  #worker: Worker | undefined;
  #nextId = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();

  decodeRows(model: Signature, body: Buffer): Promise<RowRequest> {
    if (body.length < OFFLOAD_BODY_BYTES) return Promise.resolve(jobs.decodeRows(model, body));
    const bytes = ownedBuffer(body);
    return this.#run('decodeRows', [signatureOf(model), bytes], [bytes.buffer as ArrayBuffer]);
  }

  decodeV2(model: Signature, body: Buffer, headerLength: string | undefined): Promise<V2Request> {
    if (body.length < OFFLOAD_BODY_BYTES) return Promise.resolve(jobs.decodeV2(model, body, headerLength));
    const bytes = ownedBuffer(body);
    return this.#run('decodeV2', [signatureOf(model), bytes, headerLength], [bytes.buffer as ArrayBuffer]);
  }

  /** The row-format response body. Output buffers may be transferred away: do not use `outputs` afterwards. */
  encodeRows(model: Signature, outputs: Tensors, count: number): Promise<Buffer | string> {
    if (elements(outputs) < OFFLOAD_OUTPUT_ELEMENTS) return Promise.resolve(jobs.encodeRows(model, outputs, count));
    return this.#run('encodeRows', [signatureOf(model), outputs, count], transferList(outputs));
  }

  /** The V2 response. Output buffers may be transferred away: do not use `outputs` afterwards. */
  encodeV2(model: Signature, id: string | undefined, outputs: Tensors, selected: SelectedOutput[]): Promise<EncodedResponse> {
    if (elements(outputs) < OFFLOAD_OUTPUT_ELEMENTS) return Promise.resolve(jobs.encodeV2(model, id, outputs, selected));
    return this.#run('encodeV2', [signatureOf(model), id, outputs, selected], transferList(outputs));
  }

  async close(): Promise<void> {
    await this.#worker?.terminate();
    this.#worker = undefined;
  }

  #run<J extends JobName>(job: J, args: unknown[], transfer: ArrayBuffer[]): Promise<ReturnType<Jobs[J]>> {
    const worker = this.#start();
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      worker.postMessage({ id, job, args } satisfies CodecRequest, transfer);
    });
  }

  /** The worker, started on first use and again after it died. */
  #start(): Worker {
    if (this.#worker) return this.#worker;
    const worker = startWorker(import.meta.url, 'worker');
    worker.unref();
    worker.on('message', (msg: CodecReply) => {
      const p = this.#pending.get(msg.id);
      if (!p) return;
      this.#pending.delete(msg.id);
      if (!msg.error) p.resolve(msg.result);
      else if (msg.error.code && msg.error.status) p.reject(new AppError(msg.error.code, msg.error.status, msg.error.message, msg.error.headers));
      else p.reject(new Error(`codec worker: ${msg.error.message}`));
    });
    const fail = (err: Error) => {
      if (this.#worker !== worker) return;
      this.#worker = undefined;
      for (const p of this.#pending.values()) p.reject(err);
      this.#pending.clear();
    };
    worker.on('error', (err) => fail(new Error(`codec worker crashed: ${err.message}`)));
    worker.on('exit', (code) => fail(new Error(`codec worker exited with code ${code}`)));
    this.#worker = worker;
    return worker;
  }
}
