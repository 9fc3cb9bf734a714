import { once } from 'node:events';
import type { Logger } from 'pino';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config.ts';
import { Codecs } from './codecs/offload.ts';
import { createGrpcTransport } from './grpc/server.ts';
import { createApp } from './http/app.ts';
import { createHttpServer, listen } from './http/server.ts';
import { Turns } from './inference/turns.ts';
import { InferenceCore } from './inference/core.ts';
import { MemoryBudget, requestCost } from './inference/memory-budget.ts';
import { Lifecycle } from './lifecycle.ts';
import { createMetrics, createMetricsServer } from './metrics.ts';
import { repositoryErrors } from './codecs/repository-api.ts';
import { ModelControl } from './models/control.ts';
import { ModelRepository } from './models/repository.ts';

export { listen };

export interface ServiceOptions {
  config: Config;
  logger: Logger;
  version: string;
  clock?: Clock;
  /** A model keeps failing (worker restarts past their limit): main.ts exits so Kubernetes replaces the pod. */
  onGiveUp?: (reason: string) => void;
  /** Bytes the process may use (MEMORY_LIMIT or the cgroup's); undefined: no memory-bounded admission. */
  memoryLimit?: number;
  /** Inference worker threads when INFERENCE_WORKERS is unset (main.ts: the usable CPUs); default 1. */
  inferenceWorkers?: number;
  /** Resident memory now, bytes (tests replace it). */
  rss?: () => number;
  /**
   * Build the gRPC transport (`service.grpc`). Default: when GRPC_PORT is not 0. Tests pass true with
   * GRPC_PORT=0 and listen on an ephemeral port themselves (`service.grpc.listen(0, host)`).
   */
  grpc?: boolean;
}

/** Peak RSS is kept under this share of the memory limit. */
export const MEMORY_TARGET = 0.85;
/** Kept free of request charges: GC lag, allocator slack, metrics and logs. */
export const MEMORY_RESERVE = 48 * 2 ** 20;

/** Everything the service is made of, wired but not listening and with models not yet loaded. */
export function createService(options: ServiceOptions) {
  const { config, logger, version } = options;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics({ maxBatchSize: config.MAX_BATCH_SIZE });
  const lifecycle = new Lifecycle();
  const repository = new ModelRepository({
    config,
    metrics,
    logger,
    clock,
    workers: config.INFERENCE_WORKERS ?? options.inferenceWorkers,
    supervision: options.onGiveUp && { onGiveUp: options.onGiveUp },
  });
  const turns = new Turns();
  const core = new InferenceCore({ repository, clock, requestTimeoutMs: config.REQUEST_TIMEOUT_MS, turns });
  let budget: MemoryBudget | undefined;
  let largestRequest = 0;
  const control = new ModelControl({
    mode: config.MODEL_CONTROL_MODE,
    root: config.MODEL_REPOSITORY,
    pollSeconds: config.MODEL_POLL_SECONDS,
    repository,
    clock,
    logger,
    // A version loaded while the server runs (a new model, or the next version beside the one it replaces)
    // takes its memory out of the requests' budget until it is unloaded; when that would leave no room for
    // one request at BODY_LIMIT, it waits.
    reserve: (name, version, bytes) => {
      if (!budget) return () => {};
      return budget.reserve(bytes, largestRequest) ?? repositoryErrors.noMemory(name, version, bytes, Math.max(0, budget.capacity - largestRequest));
    },
  });
  const codecs = new Codecs();
  const app = createApp({ config, core, codecs, repository, control, lifecycle, metrics, logger, version });
  const server = createHttpServer(app.listener, config.REQUEST_TIMEOUT_MS);
  // libuv accepts one connection per turn of the event loop: keep those turns short while connections come in.
  server.on('connection', () => turns.accepted());
  const metricsServer = createMetricsServer(metrics.registry);
  const grpc = (options.grpc ?? config.GRPC_PORT !== 0) ? createGrpcTransport({ config, core, repository, lifecycle, metrics, logger, version }) : undefined;

  /**
   * Loads and warms up every model, then sizes the memory budget from what is left under the limit;
   * the service is ready once this resolves. Throws when one request at BODY_LIMIT could never fit.
   */
  const start = async () => {
    await repository.load();
    const limit = options.memoryLimit ?? config.MEMORY_LIMIT;
    if (limit !== undefined) {
      const rss = (options.rss ?? process.memoryUsage.rss)();
      const capacity = Math.floor(limit * MEMORY_TARGET - rss - MEMORY_RESERVE);
      const largest = Math.max(...(['rows', 'v2-json', 'v2-binary'] as const).map((f) => requestCost(f, config.BODY_LIMIT)));
      const mb = (n: number) => `${Math.round(n / 2 ** 20)} MB`;
      if (capacity < largest) {
        throw new Error(
          `MEMORY_LIMIT=${mb(limit)} leaves ${mb(Math.max(0, capacity))} for requests once the models use ${mb(rss)}, but one request at BODY_LIMIT (${mb(config.BODY_LIMIT)}) may need ${mb(largest)}: raise MEMORY_LIMIT or lower BODY_LIMIT`,
        );
      }
      const sized = new MemoryBudget(capacity, (used) => metrics.memoryInFlight.set(used), (bytes) => metrics.memoryBudget.set(bytes));
      budget = sized;
      largestRequest = largest;
      core.limitMemory(sized);
      repository.holdStartMemory((bytes) => sized.held(bytes));
      logger.info({ memoryLimit: limit, rssAfterLoad: rss, requestBudget: capacity, largestRequest: largest }, 'memory-bounded admission on');
    } else {
      logger.warn('no memory limit (MEMORY_LIMIT unset and no cgroup limit): requests in flight are not bounded by memory');
    }
    await control.start();
    lifecycle.moveTo('ready');
  };

  let stopping: Promise<void> | undefined;
  /**
   * The shutdown sequence: readiness fails at once while requests are still served for SHUTDOWN_DELAY_MS
   * (endpoints and proxies stop routing here); then the server stops accepting and in-flight work drains,
   * for at most SHUTDOWN_TIMEOUT_MS; requests still queued then get 503 shutting_down; then models are released.
   */
  const shutdown = () =>
    (stopping ??= (async () => {
      lifecycle.moveTo('draining');
      logger.info({ delayMs: config.SHUTDOWN_DELAY_MS }, 'shutdown requested: readiness now fails, still serving');
      const controlStopped = control.stop();
      await sleep(clock, config.SHUTDOWN_DELAY_MS);
      const closed = once(server, 'close');
      server.close();
      // gRPC likewise: no new calls (clients get GOAWAY and go elsewhere), calls in flight run to their end.
      const grpcDrained = grpc?.drain();
      logger.info({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'no longer accepting connections; draining in-flight requests');
      // Queues close only once every connection is done: a request accepted just before the close (its
      // body still arriving) must still be queued and served.
      const drained = Promise.all([closed, grpcDrained]).then(() => repository.drain()).then(() => true);
      if (!(await Promise.race([drained, sleep(clock, config.SHUTDOWN_TIMEOUT_MS).then(() => false)]))) {
        logger.warn('shutdown timeout: refusing requests still queued and closing the remaining connections');
        repository.abortQueued();
        // Let the refusals be written before the connections go.
        await sleep(clock, 100);
        server.closeAllConnections();
        grpc?.forceShutdown();
      }
      await controlStopped;
      await repository.close();
      await codecs.close();
      await new Promise((resolve) => metricsServer.close(resolve));
      lifecycle.moveTo('stopped');
      logger.info('shutdown complete');
    })());

  return { routes: app.routes, server, grpc, metricsServer, repository, control, core, codecs, lifecycle, metrics, config, logger, start, shutdown };
}

export type Service = ReturnType<typeof createService>;

function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}
