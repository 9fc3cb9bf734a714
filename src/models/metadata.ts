// A model version's Open Inference Protocol metadata, the same over REST and gRPC.
import type { TensorSpec } from '../tensors/types.ts';
import { V2_BY_ELEMENT } from '../tensors/types.ts';
import type { Model } from './model.ts';
import type { ModelRepository } from './repository.ts';

export function modelMetadata(repository: ModelRepository, model: Model) {
  const spec = (s: TensorSpec) => ({ name: s.name, datatype: V2_BY_ELEMENT[s.type], shape: s.shape });
  return {
    name: model.name,
    versions: repository.versions(model.name).map(String),
    platform: 'onnxruntime_onnx',
    inputs: model.inputs.map(spec),
    outputs: model.outputs.map(spec),
  };
}
