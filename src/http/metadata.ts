// KServe V2 / Open Inference Protocol server metadata, and Triton's model configuration (model metadata is
// models/metadata.ts, shared with gRPC).
import type { Model } from '../models/model.ts';
import type { TensorSpec } from '../tensors/types.ts';
import { V2_BY_ELEMENT } from '../tensors/types.ts';

export const V2_EXTENSIONS = ['binary_tensor_data'];

export function serverMetadata(version: string, repositoryApi = false) {
  return { name: 'meshserve', version, extensions: repositoryApi ? [...V2_EXTENSIONS, 'model_repository'] : V2_EXTENSIONS };
}

/** Triton's model configuration (GET .../config), which perf_analyzer and some Triton clients read. */
export function tritonConfig(model: Model) {
  const batched = model.batchable ? model.maxBatchSize : 0;
  const spec = (s: TensorSpec) => ({
    name: s.name,
    data_type: `TYPE_${V2_BY_ELEMENT[s.type] === 'BYTES' ? 'STRING' : V2_BY_ELEMENT[s.type]}`,
    dims: batched ? s.shape.slice(1) : s.shape,
  });
  return { name: model.name, platform: 'onnxruntime_onnx', backend: 'onnxruntime', max_batch_size: batched, input: model.inputs.map(spec), output: model.outputs.map(spec) };
}
