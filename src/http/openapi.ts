import { OpenApiGeneratorV31, OpenAPIRegistry, type RouteConfig } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import {
  ErrorBody,
  HealthResponse,
  PredictRequest,
  PredictResponse,
  V2InferRequest,
  V2InferResponse,
  V2ModelMetadata,
  V2ServerMetadata,
} from './schemas.ts';

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = {
  400: json(ErrorBody, 'Invalid request: the message names the field, what was expected and what came'),
  404: json(ErrorBody, 'Unknown model or version'),
  413: json(ErrorBody, 'Body larger than BODY_LIMIT'),
  503: json(ErrorBody, 'Not ready, queue full, shutting down or deadline exceeded (see Retry-After)'),
};
const name = z.string().meta({ description: 'Model name', example: 'iris' });
const version = z.string().meta({ description: 'Model version (a positive integer)', example: '1' });
// An iris flower (setosa) in row format: the example "Try it out" sends from /docs, and what the bundled model answers.
const irisRequest = { instances: [[5.1, 3.5, 1.4, 0.2]] };
const irisResponse = { model: 'iris', version: '1', predictions: [{ label: 'setosa', scores: { setosa: 0.9959, versicolor: 0.0041, virginica: 0.0 } }] };
const rowsBody = { required: true, content: { 'application/json': { schema: PredictRequest, example: irisRequest } } };
const rowsOk = { description: 'One prediction per instance', content: { 'application/json': { schema: PredictResponse, example: irisResponse } } };

/** The OpenAPI 3.1 description of the HTTP API, generated from the same zod schemas that validate requests. */
export function buildOpenApi(serviceVersion: string): object {
  const registry = new OpenAPIRegistry();
  const add = (route: RouteConfig) => registry.registerPath(route);
  const health = { 200: json(HealthResponse, 'OK'), 503: json(HealthResponse, 'Not ready, with the reasons') };

  add({ method: 'get', path: '/healthz', summary: 'Liveness: 200 while the process serves', responses: { 200: json(HealthResponse, 'Alive') } });
  add({ method: 'get', path: '/ready', summary: 'Readiness: 200 when every model is warmed up and no shutdown is under way', responses: health });
  add({
    method: 'post',
    path: '/predict',
    summary: 'Predict with the default model (row format)',
    request: { body: rowsBody },
    responses: { 200: rowsOk, 415: json(ErrorBody, 'Content type is not JSON'), ...errors },
  });
  add({
    method: 'post',
    path: '/v1/models/{name}:predict',
    summary: 'Predict with a named model (KServe V1 / TF Serving row format)',
    request: { params: z.object({ name }), body: rowsBody },
    responses: { 200: rowsOk, 415: json(ErrorBody, 'Content type is not JSON'), ...errors },
  });
  add({ method: 'get', path: '/v2', summary: 'Server metadata', responses: { 200: json(V2ServerMetadata, 'Server metadata') } });
  add({ method: 'get', path: '/v2/health/live', summary: 'V2 liveness', responses: { 200: json(HealthResponse, 'Alive') } });
  add({ method: 'get', path: '/v2/health/ready', summary: 'V2 readiness', responses: health });
  for (const [prefix, params] of [
    ['/v2/models/{name}', z.object({ name })],
    ['/v2/models/{name}/versions/{version}', z.object({ name, version })],
  ] as const) {
    add({ method: 'get', path: prefix, summary: 'Model metadata', request: { params }, responses: { 200: json(V2ModelMetadata, 'Model metadata'), ...errors } });
    add({ method: 'get', path: `${prefix}/config`, summary: "Triton model configuration (max_batch_size, inputs and outputs without the batch dimension)", request: { params }, responses: { 200: { description: 'Model configuration' }, 404: errors[404], 503: errors[503] } });
    add({ method: 'get', path: `${prefix}/ready`, summary: 'Model readiness', request: { params }, responses: { 200: { description: 'Ready' }, 404: errors[404], 503: errors[503] } });
    add({
      method: 'post',
      path: `${prefix}/infer`,
      summary: 'V2 inference (JSON tensors, or the binary tensor data extension with Inference-Header-Content-Length)',
      request: {
        params,
        headers: z.object({ 'inference-header-content-length': z.string().optional().meta({ description: 'Length of the JSON header when binary tensor data follows it' }) }),
        body: {
          content: {
            'application/json': { schema: V2InferRequest },
            'application/octet-stream': { schema: z.string().meta({ format: 'binary', description: 'JSON header followed by binary tensor data' }) },
          },
        },
      },
      responses: { 200: json(V2InferResponse, 'Outputs; binary outputs follow the JSON header when requested'), ...errors },
    });
  }
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: { title: 'meshserve', version: serviceVersion, description: 'Serve ONNX models over HTTP: row format and the KServe V2 / Open Inference Protocol.' },
  });
}
