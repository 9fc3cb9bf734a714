import { pino, type DestinationStream, type Logger } from 'pino';
import type { Config } from './config.ts';

export type { Logger };

/** Builds the service logger. Tests pass a destination to read the JSON lines. */
export function createLogger(config: Pick<Config, 'LOG_LEVEL' | 'LOG_PRETTY'>, destination?: DestinationStream): Logger {
  const options = {
    level: config.LOG_LEVEL,
    base: { service: 'meshserve' },
    redact: {
      paths: ['headers.authorization', 'headers.cookie', 'headers["set-cookie"]', 'headers["x-api-key"]', 'headers["proxy-authorization"]'],
      censor: '[redacted]',
    },
  };
  if (destination) return pino(options, destination);
  if (config.LOG_PRETTY) return pino({ ...options, transport: { target: 'pino-pretty' } });
  return pino(options);
}
