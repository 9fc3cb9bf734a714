// The codec worker thread: parses, validates and decodes large request bodies, and encodes large
// responses, so the main thread stays free for health probes and small requests.
import { parentPort } from 'node:worker_threads';
import { AppError } from '../errors.ts';
import { transferList } from '../tensors/transfer.ts';
import { jobs, type JobName } from './jobs.ts';
import { ownedBuffer, type CodecReply, type CodecRequest } from './offload.ts';
import { lowerThreadPriority } from '../thread-priority.ts';

lowerThreadPriority();
const port = parentPort!;

port.on('message', (msg: CodecRequest) => {
  try {
    const result = (jobs[msg.job] as (...args: unknown[]) => unknown)(...msg.args);
    port.postMessage(...reply(msg.id, msg.job, result));
  } catch (err) {
    const error = err instanceof AppError ? { code: err.code, status: err.status, message: err.message, headers: err.headers } : { message: (err as Error)?.message ?? String(err) };
    port.postMessage({ id: msg.id, error } satisfies CodecReply);
  }
});

/** The reply and what to transfer with it: tensors' buffers, and response text as owned bytes. */
function reply(id: number, job: JobName, result: unknown): [CodecReply, ArrayBuffer[]] {
  if (job === 'decodeRows' || job === 'decodeV2') {
    const decoded = result as { inputs: Parameters<typeof transferList>[0] };
    return [{ id, result }, transferList(decoded.inputs)];
  }
  if (job === 'encodeRows') {
    const body = ownedBuffer(Buffer.from(result as string, 'utf8'));
    return [{ id, result: body }, [body.buffer as ArrayBuffer]];
  }
  const encoded = result as { body: Buffer | string; headers: Record<string, string> };
  const body = ownedBuffer(typeof encoded.body === 'string' ? Buffer.from(encoded.body, 'utf8') : encoded.body);
  return [{ id, result: { body, headers: encoded.headers } }, [body.buffer as ArrayBuffer]];
}
