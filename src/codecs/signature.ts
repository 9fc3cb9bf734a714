import type { TensorSpec } from '../tensors/types.ts';

/** What a codec needs to know of a model: plain data, so it crosses to a codec worker thread. */
export interface Signature {
  name: string;
  version: number;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  batchable: boolean;
  labels?: string[];
}

/** The plain-data copy of a model's signature that is sent to the codec worker. */
export function signatureOf(model: Signature): Signature {
  return { name: model.name, version: model.version, inputs: model.inputs, outputs: model.outputs, batchable: model.batchable, labels: model.labels };
}
