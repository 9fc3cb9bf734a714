// The only module that reads process.env, listens and handles signals.
import { readFileSync } from 'node:fs';
import { checkModelRepository, ConfigError, parseConfig, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { usableCpus } from './cpus.ts';
import { cgroupMemoryLimit } from './memory.ts';
import { createService, listen } from './service.ts';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let config: Config;
try {
  config = parseConfig(process.env);
  // Before anything listens: a missing repository or an unknown default model is a configuration error too.
  await checkModelRepository(config);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`meshserve: configuration error: ${err.message.split('\n').join('; ')}\n`);
  process.exit(1);
}

// onnxruntime (1.30, Linux) uploads usage telemetry unless ORT_DISABLE_TELEMETRY is in the process
// environment when the first session is created; a model server in a locked-down mesh must not phone home.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

const logger = createLogger(config);
const fatal = (what: string) => (err: unknown) => {
  logger.fatal({ err }, `${what}; exiting so the pod is restarted`);
  process.exit(1);
};
process.on('uncaughtException', fatal('uncaught exception'));
process.on('unhandledRejection', fatal('unhandled promise rejection'));

const memoryLimit = config.MEMORY_LIMIT ?? cgroupMemoryLimit();
logger.info({ memoryLimit, from: config.MEMORY_LIMIT !== undefined ? 'MEMORY_LIMIT' : memoryLimit !== undefined ? 'cgroup' : 'none' }, 'memory limit');

const inferenceWorkers = config.INFERENCE_WORKERS ?? usableCpus();
logger.info({ inferenceWorkers, from: config.INFERENCE_WORKERS !== undefined ? 'INFERENCE_WORKERS' : 'usable CPUs' }, 'inference workers');

const service = createService({
  config,
  logger,
  version,
  memoryLimit,
  inferenceWorkers,
  onGiveUp: (reason) => {
    logger.fatal({ reason }, 'a model keeps failing; exiting so Kubernetes replaces the pod');
    process.exit(1);
  },
});

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    logger.info({ signal }, 'signal received');
    service.shutdown().then(() => process.exit(0), fatal('shutdown failed'));
  });
}

try {
  const port = await listen(service.server, config.PORT, config.HOST);
  const metricsPort = await listen(service.metricsServer, config.METRICS_PORT, config.HOST);
  const grpcPort = service.grpc ? await service.grpc.listen(config.GRPC_PORT, config.HOST) : undefined;
  logger.info({ port, metricsPort, grpcPort, host: config.HOST, version }, 'listening; loading models');
} catch (err) {
  // A host this machine does not have, or a port in use: one line naming the variables, then exit 1.
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  logger.fatal({ err }, 'cannot listen');
  process.stderr.write(`meshserve: cannot listen on HOST=${config.HOST} PORT=${config.PORT} METRICS_PORT=${config.METRICS_PORT} GRPC_PORT=${config.GRPC_PORT}: ${code}\n`);
  process.exit(1);
}

try {
  await service.start();
  logger.info({ models: service.repository.all().map((m) => `${m.name}:${m.version}`), defaultModel: service.repository.defaultModelName }, 'models ready');
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'model loading failed');
  process.stderr.write(`meshserve: ${(err as Error).message}\n`);
  process.exit(1);
}
