// Starts the real service in-process on loopback port 0 with a model repository, for route tests.
import { Writable } from 'node:stream';
import type { Clock } from '../../src/clock.ts';
import type { Config } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createService, listen, type Service } from '../../src/service.ts';
import { testConfig } from './config.ts';
import { makeRepository, type RepositoryModel } from './repository.ts';

// As main.ts does for the service: no onnxruntime telemetry from in-process tests either.
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export interface TestService {
  service: Service;
  /** http://127.0.0.1:<port> of the API. */
  url: string;
  /** http://127.0.0.1:<port> of the metrics server. */
  metricsUrl: string;
  /** The model repository directory (MODEL_REPOSITORY). */
  dir: string;
  /** 127.0.0.1:<port> of the gRPC server, when started with `grpc: true`. */
  grpcAddress: string;
  /** Parsed JSON log lines written so far. */
  logs: Record<string, unknown>[];
  close(): Promise<void>;
}

export interface StartOptions {
  /** Config variables on top of the test defaults. */
  env?: Record<string, string>;
  clock?: Clock;
  /** Resolve before the models are loaded (to observe readiness during loading). */
  skipLoad?: boolean;
  /** Resident memory as the service sees it at start (sizes the memory budget under MEMORY_LIMIT). */
  rss?: () => number;
  /** Also serve gRPC, on an ephemeral loopback port (GRPC_PORT stays 0, which alone would turn gRPC off). */
  grpc?: boolean;
}

/** Builds a repository from fixture models, starts the service on 127.0.0.1:0 and loads the models. */
export async function startService(layout: Record<string, RepositoryModel>, options: StartOptions = {}): Promise<TestService> {
  const repo = await makeRepository(layout);
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line.trim()) logs.push(JSON.parse(line));
      cb();
    },
  });
  const config: Config = testConfig({ MODEL_REPOSITORY: repo.dir, HOST: '127.0.0.1', LOG_LEVEL: 'debug', GRPC_PORT: '0', ...options.env });
  const logger = createLogger(config, destination);
  const service = createService({ config, logger, version: '0.0.0-test', clock: options.clock, rss: options.rss, grpc: options.grpc });
  const port = await listen(service.server, 0, '127.0.0.1');
  const metricsPort = await listen(service.metricsServer, 0, '127.0.0.1');
  const grpcPort = service.grpc ? await service.grpc.listen(0, '127.0.0.1') : 0;
  const close = async () => {
    service.grpc?.forceShutdown();
    service.server.closeAllConnections();
    await new Promise((r) => service.server.close(r));
    await new Promise((r) => service.metricsServer.close(r));
    await service.control.stop();
    await service.repository.close();
    await service.codecs.close();
    await repo.cleanup();
  };
  if (!options.skipLoad) {
    try {
      await service.start();
    } catch (err) {
      await close();
      throw err;
    }
  }
  return { service, url: `http://127.0.0.1:${port}`, metricsUrl: `http://127.0.0.1:${metricsPort}`, dir: repo.dir, grpcAddress: `127.0.0.1:${grpcPort}`, logs, close };
}

/** Sends a request and returns status, headers, text and the parsed JSON body (undefined when not JSON). */
export async function send(url: string, init: RequestInit = {}) {
  const res = await fetch(url, init);
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

export type Reply = Awaited<ReturnType<typeof send>>;

/** POSTs JSON (an object, or a string sent as it is). */
export function postJson(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return send(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}
