// The gRPC transport: inference.GRPCInferenceService (the Open Inference Protocol, proto/inference.proto) and
// grpc.health.v1.Health on one @grpc/grpc-js server. Handlers are thin: ModelInfer goes through the same
// inference core as the HTTP routes (admission, batcher, deadlines, outcome metrics), with its own codec.
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { format } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import type { Logger } from 'pino';
import { decodeGrpcRequest, encodeGrpcResponse, type GrpcInferRequest, type GrpcInferResponse } from '../codecs/grpc.ts';
import type { Config } from '../config.ts';
import { invalid, notFound } from '../errors.ts';
import type { InferenceCore, InferenceTrace } from '../inference/core.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Metrics } from '../metrics.ts';
import { modelMetadata } from '../models/metadata.ts';
import type { ModelRepository } from '../models/repository.ts';
import { statusName, toGrpcError } from './status.ts';

/** proto/ beside src/ and dist/, so both `tsx src/...` and `node dist/...` find it (the image copies it too). */
export const PROTO_PATH = fileURLToPath(new URL('../../proto/inference.proto', import.meta.url));
export const SERVICE_NAME = 'inference.GRPCInferenceService';

/** Health service names: '' and the inference service follow readiness; 'liveness' is SERVING while the process serves. */
const READINESS_SERVICES = new Set(['', SERVICE_NAME, 'readiness']);
const LIVENESS_SERVICE = 'liveness';
/** How often a Watch stream re-reads readiness. */
const WATCH_INTERVAL_MS = 1000;

export interface GrpcDeps {
  config: Config;
  core: InferenceCore;
  repository: ModelRepository;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  version: string;
}

/** A request message protobuf could not decode: answered INVALID_ARGUMENT by the handler instead of grpc-js' INTERNAL. */
class Malformed {
  constructor(readonly reason: string) {}
}

function loadDefinition(sizes: WeakMap<object, number>): grpc.ServiceDefinition {
  const loaded = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, arrays: true, oneofs: true });
  const definition = loaded[SERVICE_NAME] as grpc.ServiceDefinition;
  const wrapped: Record<string, grpc.MethodDefinition<object, object>> = {};
  for (const [name, method] of Object.entries(definition)) {
    wrapped[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer) => {
        try {
          const message = method.requestDeserialize(bytes) as object;
          sizes.set(message, bytes.length);
          return message;
        } catch (err) {
          return new Malformed((err as Error).message);
        }
      },
    };
  }
  return wrapped as grpc.ServiceDefinition;
}

interface CallContext {
  requestId: string;
  trace?: InferenceTrace;
}

type Unary<Req, Res> = (request: Req, call: grpc.ServerUnaryCall<Req, Res>, ctx: CallContext) => Res | Promise<Res>;

export interface GrpcTransport {
  server: grpc.Server;
  /** Binds host:port (0 picks a free one) and resolves with the port. */
  listen(port: number, host: string): Promise<number>;
  /** Stops accepting calls (clients are told to go elsewhere), ends health Watch streams, resolves once in-flight calls finished. */
  drain(): Promise<void>;
  /** Cancels whatever is still in flight and closes every connection. */
  forceShutdown(): void;
}

/** The gRPC server with both services registered; it does not listen. */
export function createGrpcTransport(deps: GrpcDeps): GrpcTransport {
  const { core, repository, lifecycle, metrics, logger } = deps;
  // grpc-js writes its own errors to stderr; they go to the service's log instead, as JSON lines.
  const grpcLog = (...args: unknown[]) => logger.warn({ source: 'grpc-js' }, format(...args));
  grpc.setLogger({ error: grpcLog, info: grpcLog, debug: grpcLog });
  grpc.setLogVerbosity(grpc.logVerbosity.ERROR);
  const sizes = new WeakMap<object, number>();
  const definition = loadDefinition(sizes);
  const server = new grpc.Server({
    // grpc-js refuses messages over 4 MiB by default; a gRPC request may be as large as an HTTP body.
    'grpc.max_receive_message_length': deps.config.BODY_LIMIT,
    'grpc.max_send_message_length': -1,
    // channelz keeps per-call bookkeeping that costs CPU on every call; nothing here reads it.
    'grpc.enable_channelz': 0,
  });

  const ready = () => lifecycle.notReadyReasons().length === 0 && repository.notReadyReasons().length === 0;

  /** Wraps a unary handler: request id, malformed messages, the error mapping, metrics and one log line per call. */
  const unary = <Req, Res>(method: string, handle: Unary<Req, Res>, quiet = false): grpc.handleUnaryCall<Req, Res> => {
    return (call, callback) => {
      const started = performance.now();
      const given = call.metadata.get('x-request-id')[0];
      const ctx: CallContext = { requestId: typeof given === 'string' && /^[\w.:@/+=-]{1,128}$/.test(given) ? given : randomUUID() };
      const finish = (err: unknown, response?: Res) => {
        const failure = err === undefined ? undefined : toGrpcError(err);
        const deadline = call.getDeadline();
        const expired = deadline instanceof Date && Date.now() >= deadline.getTime();
        // A call cancelled by the client or by its deadline was already answered by grpc-js.
        const code = call.cancelled ? (expired ? 'DEADLINE_EXCEEDED' : 'CANCELLED') : failure ? statusName(failure.code) : 'OK';
        const seconds = (performance.now() - started) / 1000;
        metrics.observeGrpc(method, code, seconds);
        const level = failure && failure.code === grpc.status.INTERNAL ? 'error' : quiet ? 'debug' : 'info';
        if (level === 'error') logger.error({ err, requestId: ctx.requestId, rpc: method }, 'gRPC call failed');
        if (logger.isLevelEnabled(level)) {
          const t = ctx.trace;
          logger[level](
            {
              requestId: ctx.requestId,
              rpc: method,
              grpcCode: code,
              durationMs: Math.round(seconds * 1e6) / 1000,
              ...(t && { model: t.model, version: t.version, batchSize: t.batchSize, queueMs: t.queueMs, computeMs: t.computeMs }),
              errorCode: failure?.appCode,
            },
            'grpc request',
          );
        }
        if (call.cancelled) return;
        if (failure) {
          failure.metadata.set('x-request-id', ctx.requestId);
          callback({ code: failure.code, details: failure.details, metadata: failure.metadata });
          return;
        }
        const initial = new grpc.Metadata();
        initial.set('x-request-id', ctx.requestId);
        call.sendMetadata(initial);
        callback(null, response);
      };
      try {
        const request = call.request as unknown;
        if (request instanceof Malformed) throw invalid(`the ${method}Request message could not be decoded as protobuf (${request.reason.slice(0, 200)})`);
        Promise.resolve(handle(request as Req, call, ctx)).then(
          (response) => finish(undefined, response),
          (err: unknown) => finish(err),
        );
      } catch (err) {
        finish(err);
      }
    };
  };

  const named = (name: string | undefined, what: string) => {
    if (!name) throw invalid(`${what}: expected a model name (one of ${repository.names().join(', ') || 'none'}), got an empty string`);
    return name;
  };
  server.addService(definition, {
    ServerLive: unary('ServerLive', () => ({ live: true }), true),
    ServerReady: unary('ServerReady', () => ({ ready: ready() }), true),
    ModelReady: unary<{ name: string; version: string }, { ready: boolean }>(
      'ModelReady',
      (req) => {
        try {
          repository.resolve(named(req.name, 'name'), req.version || undefined);
          return { ready: !lifecycle.draining };
        } catch (err) {
          // Unknown model or version: NOT_FOUND; known but loading, restarting or refusing work: not ready.
          if (toGrpcError(err).code === grpc.status.UNAVAILABLE) return { ready: false };
          throw err;
        }
      },
      true,
    ),
    ServerMetadata: unary('ServerMetadata', () => ({ name: 'meshserve', version: deps.version, extensions: [] as string[] })),
    ModelMetadata: unary<{ name: string; version: string }, object>('ModelMetadata', (req) =>
      modelMetadata(repository, repository.resolve(named(req.name, 'name'), req.version || undefined)),
    ),
    ModelInfer: unary<GrpcInferRequest, GrpcInferResponse>('ModelInfer', async (req, call, ctx) => {
      const bytes = sizes.get(req as object) ?? 0;
      const raw = (req.raw_input_contents?.length ?? 0) > 0;
      // The message is already in memory (grpc-js reads it whole), so its size is known exactly.
      const inference = core.begin(named(req.model_name, 'model_name'), req.model_version || undefined, { format: raw ? 'v2-binary' : 'v2-json', bytes });
      ctx.trace = inference.trace;
      const controller = new AbortController();
      const deadline = call.getDeadline();
      const deadlineAt = deadline instanceof Date ? deadline.getTime() : Number(deadline);
      // A client that cancels drops its queued work. At the deadline grpc-js cancels the call too; the batcher's
      // own deadline (the same instant) then counts it as a timeout rather than a cancellation.
      const onCancel = () => {
        if (!(Date.now() >= deadlineAt - 5)) controller.abort();
      };
      call.once('cancelled', onCancel);
      try {
        const request = await inference.decode((model) => decodeGrpcRequest(model, req));
        const clientMs = Number.isFinite(deadlineAt) ? Math.max(0, deadlineAt - Date.now()) : undefined;
        const timeoutMs = request.timeoutMs === undefined ? clientMs : Math.min(request.timeoutMs, clientMs ?? Infinity);
        const outputs = await inference.run(request.inputs, { timeoutMs, signal: controller.signal });
        return encodeGrpcResponse(inference.model, request.id, outputs, request.outputs, request.raw);
      } finally {
        call.off('cancelled', onCancel);
        inference.end();
      }
    }),
  });

  // grpc.health.v1.Health, the service kubelet's gRPC probe and grpc clients' health checking call. The
  // definition comes from grpc-health-check; its status is read from the lifecycle and the models on each
  // call rather than set in advance, and Watch streams end when the server drains so they do not hold it open.
  const watchers = new Set<grpc.ServerWritableStream<unknown, unknown>>();
  const healthOf = (name: string): 'SERVING' | 'NOT_SERVING' | undefined => {
    if (name === LIVENESS_SERVICE) return lifecycle.phase === 'stopped' ? 'NOT_SERVING' : 'SERVING';
    if (READINESS_SERVICES.has(name)) return ready() ? 'SERVING' : 'NOT_SERVING';
    return undefined;
  };
  const healthNames = () => [LIVENESS_SERVICE, ...READINESS_SERVICES];
  server.addService(healthService as grpc.ServiceDefinition, {
    check: unary<{ service: string }, { status: string }>(
      'Health/Check',
      (req) => {
        const status = healthOf(req.service);
        if (!status) throw notFound('health_service_not_found', `no health status for service "${req.service.slice(0, 64)}"; known: ${healthNames().map((n) => JSON.stringify(n)).join(', ')}`);
        return { status };
      },
      true,
    ),
    watch: (call: grpc.ServerWritableStream<{ service: string }, { status: string }>) => {
      const name = call.request instanceof Malformed ? '\0' : call.request.service;
      let last: string | undefined;
      const send = () => {
        const status = healthOf(name) ?? 'SERVICE_UNKNOWN';
        if (status !== last) call.write({ status });
        last = status;
      };
      send();
      const timer = setInterval(send, WATCH_INTERVAL_MS);
      timer.unref();
      watchers.add(call as grpc.ServerWritableStream<unknown, unknown>);
      const stop = () => {
        clearInterval(timer);
        watchers.delete(call as grpc.ServerWritableStream<unknown, unknown>);
      };
      call.once('cancelled', stop);
      call.once('finish', stop);
    },
    list: unary('Health/List', () => ({ statuses: Object.fromEntries(healthNames().map((n) => [n, { status: healthOf(n) }])) }), true),
  });

  return {
    server,
    listen: (port, host) =>
      new Promise((resolve, reject) => {
        const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
        server.bindAsync(address, grpc.ServerCredentials.createInsecure(), (err, bound) => {
          if (!err) return resolve(bound);
          // grpc-js wraps the socket's error in its message ("... [listen EADDRINUSE: ...]"): surface its code.
          const code = /\b(E[A-Z]{3,})\b/.exec(err.message)?.[1];
          reject(Object.assign(new Error(err.message), code ? { code } : {}));
        });
      }),
    drain: () =>
      new Promise((resolve) => {
        for (const call of watchers) {
          call.write({ status: 'NOT_SERVING' });
          call.end();
        }
        watchers.clear();
        server.tryShutdown(() => resolve());
      }),
    forceShutdown: () => server.forceShutdown(),
  };
}
