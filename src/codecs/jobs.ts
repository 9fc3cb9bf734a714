// The codec work one request needs, as functions of plain data: run on the main thread for small bodies,
// or in the codec worker for large ones (see offload.ts). Errors are AppErrors either way.
import type { Tensors } from '../tensors/types.ts';
import { decodeRowBody, encodeRowResponse, type RowRequest } from './rows.ts';
import type { Signature } from './signature.ts';
import { decodeV2Request, encodeV2Response, type EncodedResponse, type SelectedOutput, type V2Request } from './v2.ts';

export const jobs = {
  decodeRows: (model: Signature, body: Uint8Array): RowRequest => decodeRowBody(model, body),
  decodeV2: (model: Signature, body: Uint8Array, headerLength: string | undefined): V2Request =>
    decodeV2Request(model, Buffer.from(body.buffer, body.byteOffset, body.byteLength), headerLength),
  encodeRows: (model: Signature, outputs: Tensors, count: number): string => encodeRowResponse(model, outputs, count),
  encodeV2: (model: Signature, id: string | undefined, outputs: Tensors, selected: SelectedOutput[]): EncodedResponse => encodeV2Response(model, id, outputs, selected),
};

export type Jobs = typeof jobs;
export type JobName = keyof Jobs;
