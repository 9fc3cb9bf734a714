import { AppError } from '../errors.ts';

/** Parses a JSON body that must be an object or an array; an empty body is an empty object. */
export function parseJsonBody(body: Uint8Array): unknown {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const first = /\S/.exec(text)?.[0];
  if (first === undefined) return {};
  if (first !== '{' && first !== '[') throw new AppError('invalid_json', 400, 'request body is not valid JSON: expected an object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('invalid_json', 400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
