import { hello, helloJson, irisPredict, nodeHello, mlpBinary, mlpJson, type Payload } from './payloads.ts';
import { DEFAULT_SETTINGS, type ServiceSettings } from './service.ts';

/** The service configurations the suite starts; 'hello' is the bare express app (and a bare node:http route). */
export const SERVICES = {
  on: { ...DEFAULT_SETTINGS, maxBatchSize: 32 },
  off: { ...DEFAULT_SETTINGS, maxBatchSize: 1 },
  'on-2threads': { ...DEFAULT_SETTINGS, maxBatchSize: 32, intraOpThreads: 2 },
} satisfies Record<string, ServiceSettings>;

export type ServiceName = keyof typeof SERVICES | 'hello';

export interface Scenario {
  id: string;
  /** Chart series the scenario belongs to. */
  series: string;
  label: string;
  service: ServiceName;
  payload: Payload;
  connections: number;
}

const SWEEP = [1, 8, 64, 256];

/** In run order: pairs that are compared (iris and express hello, batching on and off) run back to back. */
export function scenarios(): Scenario[] {
  const json = mlpJson();
  const binary = mlpBinary();
  const list: Scenario[] = [
    { id: 'hello-get-c64', series: 'express hello', label: 'express hello GET /hello', service: 'hello', payload: hello, connections: 64 },
    { id: 'iris-on-c64', series: 'iris', label: 'iris /predict, batching on', service: 'on', payload: irisPredict, connections: 64 },
    { id: 'iris-off-c64', series: 'iris', label: 'iris /predict, batching off', service: 'off', payload: irisPredict, connections: 64 },
    { id: 'node-hello-get-c64', series: 'node:http hello', label: 'node:http hello GET /node-hello (no framework)', service: 'hello', payload: nodeHello, connections: 64 },
    { id: 'hello-post-json-c64', series: 'express hello', label: 'express POST + express.json()', service: 'hello', payload: helloJson, connections: 64 },
  ];
  for (const [format, payload] of [['JSON', json], ['binary', binary]] as const) {
    for (const c of SWEEP) {
      for (const [mode, service] of [['on', 'on'], ['off', 'off']] as const) {
        list.push({
          id: `mlp-${format.toLowerCase()}-${mode}-c${c}`,
          series: `MLP ${format}, batching ${mode}`,
          label: `MLP V2 ${format}, batching ${mode}`,
          service,
          payload,
          connections: c,
        });
      }
    }
    list.push({
      id: `mlp-${format.toLowerCase()}-on-2threads-c64`,
      series: `MLP ${format}, batching on, 2 intra-op threads`,
      label: `MLP V2 ${format}, batching on, ORT_INTRA_OP_THREADS=2`,
      service: 'on-2threads',
      payload,
      connections: 64,
    });
  }
  return list;
}

/** The overload scenario: far past capacity with a small queue. */
export const OVERLOAD = {
  settings: { ...DEFAULT_SETTINGS, maxBatchSize: 32, maxQueueSize: 64 } satisfies ServiceSettings,
  connections: 512,
  payload: mlpJson,
};
