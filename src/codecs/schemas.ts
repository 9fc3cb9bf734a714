import { z } from 'zod';
import { V2_DATATYPES } from '../tensors/types.ts';

// Request and response schemas: requests are validated with them and /openapi.json is generated from them.

export const ErrorBody = z
  .object({
    error: z.string().meta({ description: 'What was wrong and what was expected' }),
    code: z.string().meta({ description: 'Stable machine-readable code, e.g. invalid_request, model_not_found, queue_full' }),
  })
  .meta({ id: 'Error' });

export const PredictRequest = z
  .object({
    instances: z
      .array(z.unknown())
      .min(1, { message: 'expected at least one instance, got an empty array' })
      .meta({ description: "Rows of the model's single input (nested arrays), or objects keyed by input name for several inputs" }),
    parameters: z
      .object({ timeout_ms: z.number().int().positive().optional().meta({ description: 'Deadline for this request in ms, at most REQUEST_TIMEOUT_MS' }) })
      .optional(),
  })
  .meta({ id: 'PredictRequest', example: { instances: [[5.1, 3.5, 1.4, 0.2]] } });

export const PredictResponse = z
  .object({
    model: z.string(),
    version: z.string(),
    predictions: z.array(z.unknown()).meta({
      description: 'One per instance: {label, scores} for classifiers with labels, else the output row (an object keyed by output name for several outputs)',
    }),
  })
  .meta({ id: 'PredictResponse' });

const Datatype = z.enum(V2_DATATYPES as [string, ...string[]], { message: `expected one of ${V2_DATATYPES.join(', ')}` });
const Parameters = z.record(z.string(), z.unknown());
const Dim = z.number({ message: 'expected a non-negative integer' }).int({ message: 'expected a non-negative integer' }).min(0, { message: 'expected a non-negative integer' });

export const V2InferInput = z
  .object({
    name: z.string().min(1),
    shape: z.array(Dim).max(32, { message: 'expected at most 32 dimensions' }),
    datatype: Datatype,
    parameters: z
      .object({ binary_data_size: z.number().int().min(0).optional() })
      .catchall(z.unknown())
      .optional(),
    data: z.unknown().optional().meta({ description: 'Row-major tensor data, flat or nested; absent when binary_data_size is given' }),
  })
  .meta({ id: 'V2InferInput' });

export const V2RequestedOutput = z
  .object({
    name: z.string().min(1),
    parameters: z.object({ binary_data: z.boolean().optional() }).catchall(z.unknown()).optional(),
  })
  .meta({ id: 'V2RequestedOutput' });

export const V2InferRequest = z
  .object({
    id: z.string().optional(),
    parameters: z
      .object({
        binary_data_output: z.boolean().optional(),
        timeout: z.number().int().positive().optional().meta({ description: 'Deadline in microseconds (Triton semantics), at most REQUEST_TIMEOUT_MS' }),
      })
      .catchall(z.unknown())
      .optional(),
    inputs: z.array(V2InferInput).min(1, { message: 'expected at least one input, got none' }),
    outputs: z.array(V2RequestedOutput).optional(),
  })
  .meta({ id: 'V2InferRequest', example: { inputs: [{ name: 'input', shape: [1, 4], datatype: 'FP32', data: [5.1, 3.5, 1.4, 0.2] }] } });

export const V2OutputTensor = z
  .object({
    name: z.string(),
    datatype: Datatype,
    shape: z.array(z.number().int()),
    parameters: Parameters.optional(),
    data: z.array(z.unknown()).optional(),
  })
  .meta({ id: 'V2OutputTensor' });

export const V2InferResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    outputs: z.array(V2OutputTensor),
  })
  .meta({ id: 'V2InferResponse' });

const TensorMetadata = z.object({ name: z.string(), datatype: Datatype, shape: z.array(z.number().int()) }).meta({ id: 'V2TensorMetadata' });

export const V2ModelMetadata = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.literal('onnxruntime_onnx'),
    inputs: z.array(TensorMetadata),
    outputs: z.array(TensorMetadata),
  })
  .meta({ id: 'V2ModelMetadata' });

export const V2ServerMetadata = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ id: 'V2ServerMetadata' });

export const HealthResponse = z
  .object({ status: z.enum(['ok', 'unavailable']), reasons: z.array(z.string()).optional() })
  .meta({ id: 'Health' });

/** First problem of a failed parse as "field: what was expected (what came)", for the error body. */
export function describeIssue(error: z.ZodError, root: string): string {
  const issue = error.issues[0]!;
  const field = [root, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))].join('').replace(/^\./, '');
  return `${field || 'body'}: ${issue.message}`;
}
