// The HTTP inference handlers: thin layers that read the body, call a codec and run through the inference core.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Codecs } from '../codecs/offload.ts';
import { HEADER_LENGTH } from '../codecs/v2.ts';
import type { BodyEstimate, InferenceCore } from '../inference/core.ts';
import type { BodyFormat } from '../inference/memory-budget.ts';
import { checkJsonContentType, readBody } from './body.ts';
import { sendText, writeHead } from './reply.ts';
import type { HandlerContext } from './router.ts';

/** The body's size as declared, or the most it may be (chunked, or compressed: it is charged as if it were that large). */
function bodyEstimate(req: IncomingMessage, format: BodyFormat, bodyLimit: number): BodyEstimate {
  const declared = Number(req.headers['content-length']);
  const plain = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase() === 'identity';
  return { format, bytes: plain && Number.isSafeInteger(declared) && declared >= 0 ? Math.min(declared, bodyLimit) : bodyLimit };
}

/** One AbortController per connection, made on its first inference request and aborted when the connection closes. */
const CLIENT = Symbol('meshserve.clientGone');
type WithSignal = Socket & { [CLIENT]?: AbortSignal };

/**
 * The signal that aborts when the client goes away: its connection closed. It belongs to the connection, not
 * to one request (HTTP/1.1 answers a connection's requests in turn, and a closed connection takes every one
 * of its requests along), so a keep-alive client's requests share one AbortController instead of each
 * allocating its own.
 */
function clientGone(req: IncomingMessage): AbortSignal {
  const socket = req.socket as WithSignal;
  let signal = socket[CLIENT];
  if (!signal) {
    const controller = new AbortController();
    signal = socket[CLIENT] = controller.signal;
    if (socket.destroyed) controller.abort();
    else socket.once('close', () => controller.abort());
  }
  return signal;
}

/**
 * Admits a request through the core; one 'close' listener on the response gives back the memory charge.
 * Nothing else happens on arrival: the body is read in the request's turns (core.turn()).
 */
function begin(core: InferenceCore, res: ServerResponse, params: Record<string, string>, body: BodyEstimate) {
  const call = core.begin(params.name, params.version, body);
  res.once('close', () => call.end());
  return call;
}

/** Row format: POST /predict and POST /v1/models/{name}[/versions/{version}]:predict. */
export function rowHandler(core: InferenceCore, codecs: Codecs, bodyLimit: number) {
  const turn = () => core.turn();
  return async ({ req, res, params, state }: HandlerContext) => {
    const call = begin(core, res, params, bodyEstimate(req, 'rows', bodyLimit));
    checkJsonContentType(req);
    await turn();
    const body = await readBody(req, bodyLimit, turn);
    const request = await call.decode((model) => codecs.decodeRows(model, body));
    state.inference = call.trace;
    // A client that leaves before its answer aborts its connection's signal, so its queued work is dropped.
    const outputs = await call.run(request.inputs, { timeoutMs: request.timeoutMs, signal: clientGone(req) });
    sendText(res, 200, await codecs.encodeRows(call.model, outputs, request.count));
  };
}

/** V2: POST /v2/models/{name}[/versions/{version}]/infer, JSON or JSON followed by binary tensor data. */
export function v2InferHandler(core: InferenceCore, codecs: Codecs, bodyLimit: number) {
  const turn = () => core.turn();
  return async ({ req, res, params, state }: HandlerContext) => {
    const binary = req.headers[HEADER_LENGTH] !== undefined;
    const call = begin(core, res, params, bodyEstimate(req, binary ? 'v2-binary' : 'v2-json', bodyLimit));
    await turn();
    const body = await readBody(req, bodyLimit, turn);
    const header = req.headers[HEADER_LENGTH];
    const request = await call.decode((model) => codecs.decodeV2(model, body, Array.isArray(header) ? header[0] : header));
    state.inference = call.trace;
    const outputs = await call.run(request.inputs, { timeoutMs: request.timeoutMs, signal: clientGone(req) });
    const encoded = await codecs.encodeV2(call.model, request.id, outputs, request.outputs);
    writeHead(res, 200, { ...encoded.headers, 'content-length': String(Buffer.byteLength(encoded.body)) });
    res.end(encoded.body);
  };
}
