// Worker thread that owns one onnxruntime session. onnxruntime-node computes on the calling thread,
// so running it here keeps the main thread free for HTTP, health probes and batching.
import { parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import { transferList } from '../tensors/transfer.ts';
import type { NumericArray, TensorData } from '../tensors/types.ts';
import type { WorkerReply, WorkerRequest } from './session.ts';

// onnxruntime's own logger writes colour-coded text to stderr; its errors reach the caller anyway and are
// logged as JSON there. Only 'fatal' silences kernel errors ('error' does not).
ort.env.logLevel = 'fatal';

let session: ort.InferenceSession | undefined;
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

port.on('message', async (msg: WorkerRequest) => {
  try {
    switch (msg.kind) {
      case 'load': {
        session = await ort.InferenceSession.create(msg.path, {
          intraOpNumThreads: msg.intraOpThreads,
          interOpNumThreads: 1,
          executionMode: 'sequential',
          graphOptimizationLevel: 'all',
        });
        const describe = (m: readonly ort.InferenceSession.ValueMetadata[]) =>
          m.map((v) => (v.isTensor ? { name: v.name, type: v.type, shape: v.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) } : { name: v.name, type: 'non-tensor', shape: [] }));
        reply({ id: msg.id, ok: true, signature: { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) } });
        break;
      }
      case 'run': {
        if (!session) throw new Error('no model loaded');
        const feeds: Record<string, ort.Tensor> = {};
        for (const [name, t] of Object.entries(msg.inputs)) feeds[name] = toOrt(t);
        const results = await session.run(feeds);
        const outputs: Record<string, TensorData> = {};
        for (const [name, value] of Object.entries(results)) outputs[name] = fromOrt(value as ort.Tensor);
        reply({ id: msg.id, ok: true, outputs }, transferList(outputs));
        break;
      }
      case 'release': {
        await session?.release();
        session = undefined;
        reply({ id: msg.id, ok: true });
        break;
      }
    }
  } catch (err) {
    reply({ id: msg.id, ok: false, error: errorText(err) });
  }
});
