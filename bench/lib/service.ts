import { fileURLToPath } from 'node:url';
import { freePort, startNode, waitFor200, type Child } from './processes.ts';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface ServiceSettings {
  maxBatchSize: number;
  batchDelayMs: number;
  maxQueueSize: number;
  requestTimeoutMs: number;
  intraOpThreads: number;
}

export const DEFAULT_SETTINGS: ServiceSettings = {
  maxBatchSize: 32,
  batchDelayMs: 2,
  maxQueueSize: 1024,
  requestTimeoutMs: 10_000,
  intraOpThreads: 1,
};

export interface RunningService {
  url: string;
  /** 127.0.0.1:<port> of gRPC, when started with a gRPC port. */
  grpcAddress?: string;
  metricsUrl: string;
  child: Child;
  stop: () => Promise<number | null>;
}

/** Runs the built service (dist/main.js) on free loopback ports and waits until /ready is 200. gRPC is off unless `grpc`. */
/** With `root`, runs that tree's build instead of this one (to compare two builds with the same bench). */
export async function startService(repository: string, settings: ServiceSettings, options: { cpus?: string; root?: string; grpc?: boolean } = {}): Promise<RunningService> {
  const port = await freePort();
  const metricsPort = await freePort();
  const grpcPort = options.grpc ? await freePort() : 0;
  const child = startNode([`${options.root ?? ROOT}/dist/main.js`], {
    PORT: String(port),
    METRICS_PORT: String(metricsPort),
    GRPC_PORT: String(grpcPort),
    HOST: '127.0.0.1',
    MODEL_REPOSITORY: repository,
    DEFAULT_MODEL: 'iris',
    MAX_BATCH_SIZE: String(settings.maxBatchSize),
    BATCH_DELAY_MS: String(settings.batchDelayMs),
    MAX_QUEUE_SIZE: String(settings.maxQueueSize),
    REQUEST_TIMEOUT_MS: String(settings.requestTimeoutMs),
    ORT_INTRA_OP_THREADS: String(settings.intraOpThreads),
    LOG_LEVEL: 'warn',
    SHUTDOWN_DELAY_MS: '0',
    NODE_ENV: 'production',
  }, { cpus: options.cpus });
  const url = `http://127.0.0.1:${port}`;
  await readyOrStop(child, `${url}/ready`, 120_000);
  return { url, ...(grpcPort ? { grpcAddress: `127.0.0.1:${grpcPort}` } : {}), metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, child, stop: child.stop };
}

/** The bare express app of bench/hello.ts, the yardstick for the HTTP layer. */
export async function startHello(options: { cpus?: string } = {}): Promise<{ url: string; child: Child; stop: () => Promise<number | null> }> {
  const port = await freePort();
  const child = startNode(['--import', 'tsx', `${ROOT}bench/hello.ts`], { PORT: String(port), NODE_ENV: 'production' }, options);
  const url = `http://127.0.0.1:${port}`;
  await readyOrStop(child, `${url}/hello`, 30_000);
  return { url, child, stop: child.stop };
}

/** Waits for a 200 from the child; stops it if none comes. */
async function readyOrStop(child: Child, url: string, timeoutMs: number): Promise<void> {
  try {
    await waitFor200(url, child, timeoutMs);
  } catch (err) {
    await child.stop();
    throw err;
  }
}
