// Worker thread of the inference pool: holds the onnxruntime sessions of many model versions and runs their
// batches one at a time, in the order they arrive. onnxruntime-node computes on the calling thread, so
// running it here keeps the main thread free for HTTP, health probes and batching.
import { parentPort, workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { transferList } from '../tensors/transfer.ts';
import type { NumericArray, TensorData } from '../tensors/types.ts';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './session.ts';
import { lowerThreadPriority } from '../thread-priority.ts';

const settings = workerData as WorkerSettings;
// Below the main thread, so probes and answers are not stuck behind a batch on a one-CPU pod.
lowerThreadPriority();

// onnxruntime's own logger writes colour-coded text to stderr, which would break the service's JSON logs.
// Its errors reach the caller anyway and are logged as JSON there, so by default it says nothing: only
// 'fatal' silences kernel errors ('error' does not). LOG_LEVEL=trace lets its warnings through.
ort.env.logLevel = settings.ortLogLevel;
const SEVERITY = { verbose: 0, info: 1, warning: 2, error: 3, fatal: 4 } as const;

const sessions = new Map<number, ort.InferenceSession>();
const port = parentPort!;

function toOrt(t: TensorData): ort.Tensor {
  return new ort.Tensor(t.type, t.data as NumericArray, t.dims);
}

function fromOrt(t: ort.Tensor): TensorData {
  let data = t.data as TensorData['data'];
  if (!Array.isArray(data)) {
    const view = data as NumericArray;
    // Transfer needs a buffer of our own: copy views into a larger (possibly shared) buffer.
    if (view.byteOffset !== 0 || view.byteLength !== view.buffer.byteLength) data = view.slice();
  }
  return { type: t.type as TensorData['type'], dims: [...t.dims], data };
}

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  port.postMessage(message, transfer);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function session(id: number): ort.InferenceSession {
  const s = sessions.get(id);
  if (!s) throw new Error(`no session ${id} on this worker`);
  return s;
}

port.on('message', async (msg: WorkerRequest) => {
  try {
    switch (msg.kind) {
      case 'load': {
        const created = await ort.InferenceSession.create(msg.path, {
          intraOpNumThreads: settings.intraOpThreads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
          logSeverityLevel: SEVERITY[settings.ortLogLevel],
          logId: msg.logId,
        });
        await sessions.get(msg.session)?.release();
        sessions.set(msg.session, created);
        const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
          m.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) } : { name: v.name, type: 'non-tensor', shape: [] }));
        reply({ id: msg.id, ok: true, signature: { inputs: describe(created.inputMetadata), outputs: describe(created.outputMetadata) } });
        break;
      }
      case 'run': {
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(msg.inputs)) feeds[name] = toOrt(t);
        const results = await session(msg.session).run(feeds);
        const outputs: Record<string, TensorData> = {};
        for (const [name, value] of Object.entries(results)) outputs[name] = fromOrt(value as ort.Tensor);
        reply({ id: msg.id, ok: true, outputs }, transferList(outputs));
        break;
      }
      case 'release': {
        const ids = msg.session === undefined ? [...sessions.keys()] : [msg.session];
        for (const id of ids) {
          await sessions.get(id)?.release();
          sessions.delete(id);
        }
        reply({ id: msg.id, ok: true });
        break;
      }
    }
  } catch (err) {
    reply({ id: msg.id, ok: false, error: errorText(err) });
  }
});
