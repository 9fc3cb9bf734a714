import type { Logger } from 'pino';
import type { Clock } from '../batching/clock.ts';
import type { Config } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { ModelRepository } from '../models/repository.ts';

/** Shared state the lifecycle flips when a shutdown starts. */
export interface Lifecycle {
  shuttingDown: boolean;
}

export interface AppDeps {
  config: Config;
  repository: ModelRepository;
  metrics: Metrics;
  logger: Logger;
  lifecycle: Lifecycle;
  clock: Clock;
  version: string;
}
