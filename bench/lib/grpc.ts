// `npm run bench -- grpc`: the same requests over gRPC (raw contents), REST V2 binary and REST V2 JSON, on the
// MLP and iris, against one service in one run. HTTP load comes from autocannon, gRPC load from a closed loop
// of calls on one @grpc/grpc-js channel (what a Triton or KServe client does); both generators run in this
// process, on the same machine as the service.
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { PROTO_PATH } from '../../src/grpc/server.ts';
import { cpuWindow } from './cpu.ts';
import { runLoad } from './load.ts';
import { describeMachine, type Machine } from './machine.ts';
import { makeRepository, MLP_SIZES } from './models.ts';
import { inputRow, mlpBinary, mlpJson, type Payload } from './payloads.ts';
import { log } from './progress.ts';
import { DEFAULT_SETTINGS, startService } from './service.ts';

export interface GrpcBenchOptions {
  durationSec: number;
  connections: number;
  runs: number;
}

export const GRPC_BENCH: GrpcBenchOptions = { durationSec: 8, connections: 32, runs: 3 };

export interface TransportStats {
  model: string;
  transport: 'gRPC raw' | 'REST binary' | 'REST JSON';
  /** Median over runs. */
  reqPerSec: number;
  reqPerSecMin: number;
  reqPerSecMax: number;
  p50: number;
  p99: number;
  failures: number;
  /** CPU time of the service (all its threads) per answered request, ms: the cost per request whatever the client. */
  serviceCpuMsPerRequest: number;
  /** CPU of the load generator (this process), in cores. */
  clientCores: number;
  /** CPU of other processes on the machine meanwhile, in cores. */
  otherCores: number;
}

export interface GrpcBenchResult {
  name: string;
  date: string;
  machine: Machine;
  options: GrpcBenchOptions;
  results: TransportStats[];
}

const IRIS_ROW = [5.1, 3.5, 1.4, 0.2];

function irisJson(): Payload {
  const body = JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: IRIS_ROW }] });
  return { method: 'POST', path: '/v2/models/iris/infer', headers: { 'content-type': 'application/json' }, body: Buffer.from(body), rows: 1 };
}

function irisBinary(): Payload {
  const data = Buffer.from(new Float32Array(IRIS_ROW).buffer);
  const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', parameters: { binary_data_size: data.length } }], parameters: { binary_data_output: true } }));
  return {
    method: 'POST',
    path: '/v2/models/iris/infer',
    headers: { 'content-type': 'application/octet-stream', 'inference-header-content-length': String(header.length) },
    body: Buffer.concat([header, data]),
    rows: 1,
  };
}

function grpcRequest(model: string): object {
  if (model === 'iris') return { model_name: 'iris', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, 4] }], raw_input_contents: [Buffer.from(new Float32Array(IRIS_ROW).buffer)] };
  const data = inputRow(MLP_SIZES[0], 7);
  return { model_name: 'mlp', inputs: [{ name: 'input', datatype: 'FP32', shape: [1, MLP_SIZES[0]] }], raw_input_contents: [Buffer.from(data.buffer, data.byteOffset, data.byteLength)] };
}

const percentile = (sorted: number[], p: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!);

/** `connections` calls in flight at all times on one channel for `durationSec`; latency of successful calls. */
async function grpcLoad(address: string, request: object, connections: number, durationSec: number): Promise<{ reqPerSec: number; p50: number; p99: number; failures: number }> {
  const definition = protoLoader.loadSync(PROTO_PATH, { keepCase: true, longs: String, defaults: true, bytes: Buffer });
  const Client = grpc.makeClientConstructor(definition['inference.GRPCInferenceService'] as grpc.ServiceDefinition, 'GRPCInferenceService');
  const client = new Client(address, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (err: grpc.ServiceError | null) => void) => void> & grpc.Client;
  const latencies: number[] = [];
  let failures = 0;
  const started = performance.now();
  const end = started + durationSec * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const t0 = performance.now();
      const err = await new Promise<grpc.ServiceError | null>((resolve) => client.ModelInfer!(request, { deadline: Date.now() + 20_000 }, resolve));
      if (err) failures++;
      else latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: connections }, loop));
  const seconds = (performance.now() - started) / 1000;
  client.close();
  latencies.sort((a, b) => a - b);
  return { reqPerSec: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), failures };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export async function runGrpcBench(name: string, options: GrpcBenchOptions): Promise<GrpcBenchResult> {
  const machine = describeMachine();
  const repo = makeRepository();
  const service = await startService(repo.dir, DEFAULT_SETTINGS, { grpc: true });
  const results: TransportStats[] = [];
  try {
    for (const model of ['mlp', 'iris']) {
      const payloads = { 'REST binary': model === 'mlp' ? mlpBinary() : irisBinary(), 'REST JSON': model === 'mlp' ? mlpJson() : irisJson() };
      // Warm-up: a short run of each, not recorded.
      await grpcLoad(service.grpcAddress!, grpcRequest(model), options.connections, 2);
      for (const payload of Object.values(payloads)) await runLoad({ url: service.url, payload, connections: options.connections, durationSec: 2 });
      type Run = { reqPerSec: number; p50: number; p99: number; failures: number; cpuMs: number; clientCores: number; otherCores: number };
      const runs: Record<TransportStats['transport'], Run[]> = { 'gRPC raw': [], 'REST binary': [], 'REST JSON': [] };
      const servicePid = service.child.proc.pid!;
      /** Runs one load with the CPU of the service, of this process and of the rest of the machine measured. */
      const measured = async (load: () => Promise<Omit<Run, 'cpuMs' | 'clientCores' | 'otherCores'>>): Promise<Run> => {
        const stop = cpuWindow(() => [process.pid, servicePid], servicePid);
        const started = performance.now();
        const stats = await load();
        const cpu = stop();
        const seconds = (performance.now() - started) / 1000;
        return { ...stats, cpuMs: (cpu.service * seconds * 1000) / Math.max(1, stats.reqPerSec * seconds), clientCores: cpu.ours - cpu.service, otherCores: cpu.others };
      };
      // Interleaved, so a noisy neighbour's burst spreads over the three.
      for (let r = 0; r < options.runs; r++) {
        log(`${model}: run ${r + 1} of ${options.runs}, ${options.durationSec} s per transport at ${options.connections} in flight`);
        runs['gRPC raw'].push(await measured(() => grpcLoad(service.grpcAddress!, grpcRequest(model), options.connections, options.durationSec)));
        for (const [transport, payload] of Object.entries(payloads) as [keyof typeof payloads, Payload][]) {
          runs[transport].push(
            await measured(async () => {
              const s = await runLoad({ url: service.url, payload, connections: options.connections, durationSec: options.durationSec });
              return { reqPerSec: s.reqPerSec, p50: s.p50, p99: s.p99, failures: s.non2xx + s.errors };
            }),
          );
        }
      }
      for (const [transport, list] of Object.entries(runs) as [TransportStats['transport'], Run[]][]) {
        const rps = list.map((s) => s.reqPerSec);
        results.push({
          model,
          transport,
          reqPerSec: median(rps),
          reqPerSecMin: Math.min(...rps),
          reqPerSecMax: Math.max(...rps),
          p50: median(list.map((s) => s.p50)),
          p99: median(list.map((s) => s.p99)),
          failures: list.reduce((n, s) => n + s.failures, 0),
          serviceCpuMsPerRequest: median(list.map((s) => s.cpuMs)),
          clientCores: median(list.map((s) => s.clientCores)),
          otherCores: median(list.map((s) => s.otherCores)),
        });
      }
    }
  } finally {
    await service.stop();
    repo.remove();
  }
  return { name, date: new Date().toISOString(), machine, options, results };
}

export function grpcMarkdown(r: GrpcBenchResult): string {
  const m = r.machine;
  const f = (n: number, digits = 0) => (Number.isFinite(n) ? n.toFixed(digits) : '-');
  const lines = [
    `# gRPC vs REST (${r.date.slice(0, 10)})`,
    '',
    `\`npm run bench -- grpc\`: one service (batching on, MAX_BATCH_SIZE 32), ${r.options.connections} requests in flight, ${r.options.runs} interleaved runs of ${r.options.durationSec} s per transport (medians; min-max req/s in brackets).`,
    'gRPC raw: ModelInfer with raw_input_contents on one grpc-js channel. REST binary: V2 with the binary tensor data extension (binary output too). REST JSON: V2 JSON.',
    'The load generators (grpc-js and autocannon) run on the same machine as the service and take CPU from it; autocannon is the lighter of the two clients.',
    '',
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGb} GB, ${m.kernel}, Node ${m.node}, onnxruntime ${m.onnxruntime}, commit ${m.commit}; load average at start ${m.loadAverageAtStart.join(' ')} (shared with other work: noisy).`,
    '',
    'Service CPU per request is the CPU time of the service process (all threads, inference included) divided by the requests it answered: the cost of a request on the server whatever the client. Client and other CPU are in cores (2 = both cores busy).',
    '',
    '| model | transport | req/s | p50 ms | p99 ms | failures | service CPU ms / request | client CPU | other CPU |',
    '|---|---|---|---|---|---|---|---|---|',
    ...r.results.map(
      (s) =>
        `| ${s.model} | ${s.transport} | ${f(s.reqPerSec)} (${f(s.reqPerSecMin)}-${f(s.reqPerSecMax)}) | ${f(s.p50, 1)} | ${f(s.p99, 1)} | ${s.failures} | ${f(s.serviceCpuMsPerRequest, 3)} | ${f(s.clientCores, 2)} | ${f(s.otherCores, 2)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}
