// gRPC clients for the tests: one generated from proto/inference.proto (as a user would), and a raw one that
// sends bytes as they are (malformed messages, and messages encoded by hand from the protocol's field numbers,
// which checks the .proto against the published protocol rather than against itself).
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { service as healthService } from 'grpc-health-check';
import { PROTO_PATH } from '../../src/grpc/server.ts';

export const LOADER_OPTIONS: protoLoader.Options = { keepCase: true, longs: String, enums: String, bytes: Buffer, defaults: true, arrays: true, oneofs: true };

type Callback = (err: grpc.ServiceError | null, value?: any) => void;
type Method = (request: object, metadata: grpc.Metadata, options: grpc.CallOptions, callback: Callback) => grpc.ClientUnaryCall;

export interface InferenceClient {
  client: grpc.Client;
  /** Calls a unary RPC; resolves with the reply or rejects with the grpc ServiceError. */
  call(method: string, request?: object, options?: grpc.CallOptions & { metadata?: Record<string, string> }): Promise<any>;
  /** Starts a call and returns it (to cancel it) with its settled result. */
  start(method: string, request: object, options?: grpc.CallOptions): { call: grpc.ClientUnaryCall; result: Promise<{ err: grpc.ServiceError | null; value?: any; metadata?: grpc.Metadata }> };
  close(): void;
}

const definition = protoLoader.loadSync(PROTO_PATH, LOADER_OPTIONS);
const Inference = grpc.makeClientConstructor(definition['inference.GRPCInferenceService'] as grpc.ServiceDefinition, 'GRPCInferenceService');
const Health = grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, 'Health');

function wrap(client: grpc.Client): InferenceClient {
  const start: InferenceClient['start'] = (method, request, options = {}) => {
    const fn = (client as unknown as Record<string, Method>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    let trailers: grpc.Metadata | undefined;
    let call!: grpc.ClientUnaryCall;
    const result = new Promise<{ err: grpc.ServiceError | null; value?: any; metadata?: grpc.Metadata }>((resolve) => {
      const metadata = new grpc.Metadata();
      call = fn.call(client, request, metadata, options, (err, value) => resolve({ err, value, metadata: trailers }));
      call.on('metadata', (m) => (trailers = m));
    });
    return { call, result };
  };
  return {
    client,
    start,
    call: async (method, request = {}, options = {}) => {
      const { metadata, ...rest } = options;
      const fn = (client as unknown as Record<string, Method>)[method]!;
      const md = new grpc.Metadata();
      for (const [k, v] of Object.entries(metadata ?? {})) md.set(k, v);
      return new Promise((resolve, reject) => fn.call(client, request, md, { deadline: Date.now() + 30_000, ...rest }, (err, value) => (err ? reject(err) : resolve(value))));
    },
    close: () => client.close(),
  };
}

/** A client of inference.GRPCInferenceService at host:port (loopback only). */
export function inferenceClient(address: string, options: grpc.ClientOptions = {}): InferenceClient {
  return wrap(new Inference(address, grpc.credentials.createInsecure(), options));
}

/** A client of grpc.health.v1.Health. */
export function healthClient(address: string): InferenceClient & { raw: grpc.Client } {
  const client = new Health(address, grpc.credentials.createInsecure());
  return { ...wrap(client), raw: client };
}

/** Sends `bytes` as the request message of `path` and returns the reply's bytes, or the error. */
export function rawCall(address: string, path: string, bytes: Uint8Array, timeoutMs = 30_000): Promise<{ err: grpc.ServiceError | null; reply?: Buffer }> {
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      path,
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + timeoutMs },
      (err, reply) => {
        client.close();
        resolve({ err, reply });
      },
    );
  });
}

// ---- protobuf wire format, by hand ----

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) byte |= 0x80;
    out.push(byte);
  } while (v > 0n);
  return out;
}

/** A field: number and value (a string, bytes, a nested message's bytes, or a varint). */
export type Field = [number, string | Uint8Array | number | bigint];

/** Encodes fields in order (strings and bytes length-delimited, numbers as varints). */
export function encodeMessage(fields: Field[]): Uint8Array {
  const out: number[] = [];
  for (const [n, value] of fields) {
    if (typeof value === 'number' || typeof value === 'bigint') {
      out.push(...varint((n << 3) | 0), ...varint(value));
    } else {
      const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
      out.push(...varint((n << 3) | 2), ...varint(bytes.length), ...bytes);
    }
  }
  return Uint8Array.from(out);
}

/** Decodes one message level: field number -> raw values (varints as bigint, length-delimited as bytes). */
export function decodeMessage(bytes: Uint8Array): Map<number, (bigint | Buffer)[]> {
  const fields = new Map<number, (bigint | Buffer)[]>();
  let i = 0;
  const readVarint = () => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      const b = bytes[i++]!;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
      shift += 7n;
    }
  };
  while (i < bytes.length) {
    const key = Number(readVarint());
    const [n, wire] = [key >> 3, key & 7];
    let value: bigint | Buffer;
    if (wire === 0) value = readVarint();
    else if (wire === 2) {
      const length = Number(readVarint());
      value = Buffer.from(bytes.subarray(i, i + length));
      i += length;
    } else throw new Error(`unexpected wire type ${wire}`);
    fields.set(n, [...(fields.get(n) ?? []), value]);
  }
  return fields;
}
