// The one route table: the router, the metrics' route labels, the OpenAPI document and the route tests
// all derive from it. A route is its method, its path template (OpenAPI style), its handler and its docs.
import type { RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Logger } from 'pino';
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
} from '../codecs/schemas.ts';
import type { Codecs } from '../codecs/offload.ts';
import type { Config } from '../config.ts';
import type { InferenceCore } from '../inference/core.ts';
import type { Lifecycle } from '../lifecycle.ts';
import type { Metrics } from '../metrics.ts';
import type { ModelRepository } from '../models/repository.ts';
import type { ModelControl } from '../models/control.ts';
import {
  RepositoryActionResponse,
  RepositoryIndexRequest,
  RepositoryIndexResponse,
  RepositoryLoadRequest,
  RepositoryUnloadRequest,
} from '../codecs/repository-api.ts';
import { repositoryHandlers } from './repository.ts';
import { AppError } from '../errors.ts';
import { createDocsPage } from './docs-page.ts';
import { notReadyReasons, sendHealth } from './health.ts';
import { rowHandler, v2InferHandler } from './inference.ts';
import { modelMetadata } from '../models/metadata.ts';
import { serverMetadata, tritonConfig } from './metadata.ts';
import { buildOpenApi } from './openapi.ts';
import { sendJson, sendText } from './reply.ts';
import type { HandlerContext } from './router.ts';

export interface Route {
  method: 'GET' | 'POST';
  /** OpenAPI path template, e.g. /v2/models/{name}/infer. */
  path: string;
  handle: (ctx: HandlerContext) => void | Promise<void>;
  /** The operation as the OpenAPI document describes it. */
  doc: Omit<RouteConfig, 'method' | 'path'>;
  /** Health probes: their request lines are logged at debug. */
  probe?: boolean;
}

export interface RouteDeps {
  config: Config;
  core: InferenceCore;
  codecs: Codecs;
  repository: ModelRepository;
  control: ModelControl;
  lifecycle: Lifecycle;
  metrics: Metrics;
  logger: Logger;
  version: string;
}

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': { schema } } });
const errors = {
  400: json(ErrorBody, 'Invalid request: the message names the field, what was expected and what came'),
  404: json(ErrorBody, 'Unknown model or version'),
  413: json(ErrorBody, 'Body larger than BODY_LIMIT'),
  503: json(ErrorBody, 'Not ready, queue full, shutting down or deadline exceeded (see Retry-After)'),
};
const health = { 200: json(HealthResponse, 'OK'), 503: json(HealthResponse, 'Not ready, with the reasons') };
const name = z.string().meta({ description: 'Model name', example: 'iris' });
const version = z.string().meta({ description: 'Model version (a positive integer)', example: '1' });
// An iris flower (setosa) in row format: the example "Try it out" sends from /docs, and what the bundled model answers.
const irisRequest = { instances: [[5.1, 3.5, 1.4, 0.2]] };
const irisResponse = { model: 'iris', version: '1', predictions: [{ label: 'setosa', scores: { setosa: 0.9958696961402893, versicolor: 0.004130227956920862, virginica: 9.46545133939658e-11 } }] };
const rowBody = { required: true, content: { 'application/json': { schema: PredictRequest, example: irisRequest } } };
const rowResponses = {
  200: { description: 'One prediction per instance', content: { 'application/json': { schema: PredictResponse, example: irisResponse } } },
  415: json(ErrorBody, 'Content type is not JSON'),
  ...errors,
};

/** Every route the API port answers. */
export function createRoutes(deps: RouteDeps): Route[] {
  const { core, repository, lifecycle } = deps;
  const rows = rowHandler(core, deps.codecs, deps.config.BODY_LIMIT);
  const infer = v2InferHandler(core, deps.codecs, deps.config.BODY_LIMIT);
  const model = (params: Record<string, string>) => repository.resolve(params.name, params.version);
  const ready = ({ res }: HandlerContext) => sendHealth(res, notReadyReasons(lifecycle, repository));
  const live = ({ res }: HandlerContext) => sendHealth(res, []);
  const docsPage = createDocsPage({ specUrl: '/openapi.json', title: 'meshserve API' });
  const docs = ({ req, res }: HandlerContext) => {
    if (!docsPage(req, res)) throw new AppError('route_not_found', 404, `no route GET ${(req.url ?? '').slice(0, 200)}; the API is described at GET /openapi.json`);
  };
  let openapi: string | undefined;

  const routes: Route[] = [
    { method: 'GET', path: '/healthz', probe: true, handle: live, doc: { summary: 'Liveness: 200 while the process serves', responses: { 200: json(HealthResponse, 'Alive') } } },
    { method: 'GET', path: '/ready', probe: true, handle: ready, doc: { summary: 'Readiness: 200 when every model is warmed up and no shutdown is under way', responses: health } },
    {
      method: 'POST',
      path: '/predict',
      handle: rows,
      doc: { summary: 'Predict with the default model (row format)', request: { body: rowBody }, responses: rowResponses },
    },
    {
      method: 'POST',
      path: '/v1/models/{name}:predict',
      handle: rows,
      doc: { summary: 'Predict with a named model (KServe V1 / TF Serving row format)', request: { params: z.object({ name }), body: rowBody }, responses: rowResponses },
    },
    {
      method: 'POST',
      path: '/v1/models/{name}/versions/{version}:predict',
      handle: rows,
      doc: { summary: 'Predict with a given version of a named model (row format)', request: { params: z.object({ name, version }), body: rowBody }, responses: rowResponses },
    },
    { method: 'GET', path: '/v2', handle: ({ res }) => sendJson(res, 200, serverMetadata(deps.version, deps.config.REPOSITORY_API)), doc: { summary: 'Server metadata', responses: { 200: json(V2ServerMetadata, 'Server metadata') } } },
    { method: 'GET', path: '/v2/health/live', probe: true, handle: live, doc: { summary: 'V2 liveness', responses: { 200: json(HealthResponse, 'Alive') } } },
    { method: 'GET', path: '/v2/health/ready', probe: true, handle: ready, doc: { summary: 'V2 readiness', responses: health } },
  ];

  for (const prefix of ['/v2/models/{name}', '/v2/models/{name}/versions/{version}']) {
    const params = prefix.includes('{version}') ? z.object({ name, version }) : z.object({ name });
    routes.push(
      {
        method: 'GET',
        path: prefix,
        handle: ({ res, params: p }) => sendJson(res, 200, modelMetadata(repository, model(p))),
        doc: { summary: 'Model metadata', request: { params }, responses: { 200: json(V2ModelMetadata, 'Model metadata'), ...errors } },
      },
      {
        method: 'GET',
        path: `${prefix}/config`,
        handle: ({ res, params: p }) => sendJson(res, 200, tritonConfig(model(p))),
        doc: {
          summary: 'Triton model configuration (max_batch_size, inputs and outputs without the batch dimension)',
          request: { params },
          responses: { 200: { description: 'Model configuration' }, 404: errors[404], 503: errors[503] },
        },
      },
      {
        method: 'GET',
        path: `${prefix}/ready`,
        probe: true,
        // 404 for unknown models, 503 while not ready.
        handle: ({ res, params: p }) => sendJson(res, 200, { name: model(p).name, ready: true }),
        doc: { summary: 'Model readiness', request: { params }, responses: { 200: { description: 'Ready' }, 404: errors[404], 503: errors[503] } },
      },
      {
        method: 'POST',
        path: `${prefix}/infer`,
        handle: infer,
        doc: {
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
        },
      },
    );
  }

  if (deps.config.REPOSITORY_API) {
    const admin = repositoryHandlers(deps.control);
    const adminErrors = {
      400: errors[400],
      404: json(ErrorBody, 'No such model in the repository (load) or loaded (unload)'),
      409: json(ErrorBody, 'Not in explicit mode (model_control_disabled), files still being written, no version to load, or not enough memory'),
      422: json(ErrorBody, 'The version failed to load or warm up (model_load_failed); what served before still serves'),
    };
    const body = (schema: z.ZodType) => ({ content: { 'application/json': { schema } } });
    routes.push(
      {
        method: 'POST',
        path: '/v2/repository/index',
        handle: admin.index,
        doc: { summary: "Model repository index (Triton's model repository extension; admin only)", request: { body: body(RepositoryIndexRequest) }, responses: { 200: json(RepositoryIndexResponse, 'Every model in the repository and every version the server knows, with its state'), 400: errors[400] } },
      },
      {
        method: 'POST',
        path: '/v2/repository/models/{name}/load',
        handle: admin.load,
        doc: { summary: 'Load (or reload) a model from the repository: MODEL_CONTROL_MODE=explicit only (admin)', request: { params: z.object({ name }), body: body(RepositoryLoadRequest) }, responses: { 200: json(RepositoryActionResponse, 'The versions that serve now'), ...adminErrors } },
      },
      {
        method: 'POST',
        path: '/v2/repository/models/{name}/unload',
        handle: admin.unload,
        doc: { summary: 'Unload every version of a model; requests in flight finish: MODEL_CONTROL_MODE=explicit only (admin)', request: { params: z.object({ name }), body: body(RepositoryUnloadRequest) }, responses: { 200: json(RepositoryActionResponse, 'Unloaded'), ...adminErrors } },
      },
    );
  }

  routes.push(
    {
      method: 'GET',
      path: '/openapi.json',
      handle: ({ res }) => sendText(res, 200, (openapi ??= JSON.stringify(buildOpenApi(routes, deps.version)))),
      doc: { summary: 'This API description (OpenAPI 3.1)', responses: { 200: { description: 'The OpenAPI document', content: { 'application/json': { schema: z.object({}).passthrough() } } } } },
    },
    {
      method: 'GET',
      path: '/docs',
      handle: docs,
      doc: { summary: 'A page that renders this API description, where requests can be tried', responses: { 200: { description: 'HTML page', content: { 'text/html': { schema: z.string() } } } } },
    },
    {
      method: 'GET',
      path: '/docs/{file}',
      handle: docs,
      doc: { summary: "The docs page's scripts and styles", request: { params: z.object({ file: z.string() }) }, responses: { 200: { description: 'A static asset' }, 404: json(ErrorBody, 'No such asset') } },
    },
  );
  return routes;
}
