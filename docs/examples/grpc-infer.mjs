#!/usr/bin/env node
// A minimal gRPC client of meshserve's Open Inference Protocol service: one iris row as raw FP32 bytes,
// the class probabilities back from raw_output_contents. Run from a checkout (after npm ci):
//   node docs/examples/grpc-infer.mjs [host:port] [sepal_length sepal_width petal_length petal_width]
//   node docs/examples/grpc-infer.mjs localhost:8081 6.9 3.1 5.4 2.1
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

const [address = 'localhost:8081', ...values] = process.argv.slice(2);
const row = values.length > 0 ? values.map(Number) : [5.1, 3.5, 1.4, 0.2];

const definition = protoLoader.loadSync(new URL('../../proto/inference.proto', import.meta.url).pathname, { keepCase: true, longs: String, defaults: true });
const { inference } = grpc.loadPackageDefinition(definition);
const client = new inference.GRPCInferenceService(address, grpc.credentials.createInsecure());

const request = {
  model_name: 'iris',
  inputs: [{ name: 'input', datatype: 'FP32', shape: [1, row.length] }],
  // Raw contents: the FP32 elements' little-endian bytes, one entry per input.
  raw_input_contents: [Buffer.from(new Float32Array(row).buffer)],
};

client.ModelInfer(request, { deadline: Date.now() + 5000 }, (err, reply) => {
  client.close();
  if (err) {
    console.error(`${grpc.status[err.code]}: ${err.details}`);
    process.exit(1);
  }
  const bytes = reply.raw_output_contents[0];
  const probabilities = Array.from(new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
  console.log(JSON.stringify({ model: reply.model_name, version: reply.model_version, output: reply.outputs[0].name, probabilities }));
});
