import { readFileSync } from 'node:fs';
import net from 'node:net';
import { createTerminus } from '@godaddy/terminus';
import { ConfigError, parseConfig, type Config } from './config.ts';
import { createLogger } from './logger.ts';
import { createService, listen } from './service.ts';

const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

let config: Config;
try {
  config = parseConfig(process.env);
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  process.stderr.write(`meshserve: configuration error: ${err.message.split('\n').join('; ')}\n`);
  process.exit(1);
}

const logger = createLogger(config);
const fatal = (what: string) => (err: unknown) => {
  logger.fatal({ err }, `${what}; exiting so the pod is restarted`);
  process.exit(1);
};
process.on('uncaughtException', fatal('uncaught exception'));
process.on('unhandledRejection', fatal('unhandled promise rejection'));

const service = createService({ config, logger, version });
const { server, metricsServer, repository, lifecycle } = service;

// Between closing the listener and ending idle keep-alive connections, requests already on the wire
// (sent on a connection accepted just before the close) still arrive and are answered.
const IN_FLIGHT_GRACE_MS = 250;
// terminus closes the server after beforeShutdown has already stopped the listener; that second close is expected.
const closeServer = server.close.bind(server);
server.close = ((callback?: (err?: Error) => void) =>
  closeServer((err) => callback?.((err as NodeJS.ErrnoException | undefined)?.code === 'ERR_SERVER_NOT_RUNNING' ? undefined : err))) as typeof server.close;

createTerminus(server, {
  signals: ['SIGTERM', 'SIGINT'],
  useExit0: true,
  timeout: config.SHUTDOWN_TIMEOUT_MS,
  // Readiness fails at once; requests are still served while endpoints and proxies stop routing here.
  beforeShutdown: async () => {
    lifecycle.shuttingDown = true;
    logger.info({ delayMs: config.SHUTDOWN_DELAY_MS }, 'shutdown requested: readiness now fails, still serving');
    await new Promise((resolve) => setTimeout(resolve, config.SHUTDOWN_DELAY_MS));
    net.Server.prototype.close.call(server);
    logger.info({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'no longer accepting connections; draining in-flight requests');
    await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_GRACE_MS));
  },
  // Runs once the server has closed: every accepted request has been answered (or the timeout hit).
  onSignal: async () => {
    await repository.drain();
    await repository.close();
    await new Promise((resolve) => metricsServer.close(resolve));
  },
  onShutdown: async () => {
    logger.info('shutdown complete');
  },
  logger: (msg, err) => logger.error({ err }, msg),
});

try {
  const port = await listen(server, config.PORT, config.HOST);
  const metricsPort = await listen(metricsServer, config.METRICS_PORT, config.HOST);
  logger.info({ port, metricsPort, host: config.HOST, version }, 'listening; loading models');
} catch (err) {
  fatal('cannot listen')(err);
}

try {
  await repository.load();
  logger.info({ models: repository.all().map((m) => `${m.name}:${m.version}`), defaultModel: repository.defaultModelName }, 'models ready');
} catch (err) {
  logger.fatal({ err: (err as Error).message }, 'model loading failed');
  process.stderr.write(`meshserve: ${(err as Error).message}\n`);
  process.exit(1);
}
