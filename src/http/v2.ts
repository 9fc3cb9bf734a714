import type { ServerResponse } from 'node:http';
import { Router, type Request } from 'express';
import type { Model } from '../models/model.ts';
import { V2_BY_ELEMENT } from '../models/tensors.ts';
import type { RequestState } from './context.ts';
import type { AppDeps } from './deps.ts';
import { decodeFor, runInference } from './infer.ts';
import { decodeInputs, encodeResponse, parseInferBody, selectOutputs, type EncodedResponse } from './v2-codec.ts';

export const V2_EXTENSIONS = ['binary_tensor_data'];

function metadata(deps: AppDeps, model: Model) {
  const spec = (s: Model['inputs'][number]) => ({ name: s.name, datatype: V2_BY_ELEMENT[s.type], shape: s.shape });
  return {
    name: model.name,
    versions: deps.repository.versions(model.name).map(String),
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map(spec),
    outputs: model.outputs.map(spec),
  };
}

/** Triton's model configuration (GET .../config), which perf_analyzer and some Triton clients read. */
function tritonConfig(model: Model) {
  const batched = model.batchable ? model.maxBatchSize : 0;
  const spec = (s: Model['inputs'][number]) => ({
    name: s.name,
    data_type: `TYPE_${V2_BY_ELEMENT[s.type] === 'BYTES' ? 'STRING' : V2_BY_ELEMENT[s.type]}`,
    dims: batched ? s.shape.slice(1) : s.shape,
  });
  return { name: model.name, platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: batched, input: model.inputs.map(spec), output: model.outputs.map(spec) };
}

/** POST /v2/models/<name>[/versions/<v>]/infer: the raw body (JSON, or JSON then binary data) in, the encoded response out. */
export async function inferV2(
  deps: AppDeps,
  model: Model,
  body: Buffer,
  headerLength: string | undefined,
  state: RequestState,
  res: ServerResponse,
): Promise<EncodedResponse> {
  const { request, inputs, selected } = decodeFor(model, () => {
    const parsed = parseInferBody(body, headerLength);
    return { request: parsed.request, inputs: decodeInputs(model, parsed.request, parsed.binary), selected: selectOutputs(model, parsed.request) };
  });
  const timeoutUs = request.parameters?.timeout;
  const outputs = await runInference(deps, state, res, model, inputs, timeoutUs === undefined ? undefined : timeoutUs / 1000);
  return encodeResponse(model, request.id, outputs, selected);
}

/** KServe V2 / Open Inference Protocol metadata routes (inference itself is served by inference-routes.ts). */
export function v2Routes(deps: AppDeps): Router {
  const router = Router();
  const model = (req: Request) => {
    const params = req.params as Record<string, string | undefined>;
    return deps.repository.resolve(String(params.name), params.version);
  };

  router.get('/v2', (_req, res) => {
    res.json({ name: 'meshserve', version: deps.version, extensions: V2_EXTENSIONS });
  });

  for (const prefix of ['/v2/models/:name', '/v2/models/:name/versions/:version']) {
    router.get(prefix, (req, res) => {
      res.json(metadata(deps, model(req)));
    });
    router.get(`${prefix}/config`, (req, res) => {
      res.json(tritonConfig(model(req)));
    });
    router.get(`${prefix}/ready`, (req, res) => {
      model(req); // 404 for unknown models, 503 while not ready
      res.json({ name: String((req.params as Record<string, string>).name), ready: true });
    });
  }
  return router;
}
