import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { AppError } from '../errors.ts';

const DECODERS: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

const tooLarge = (limit: number) => new AppError('body_too_large', 413, `request body is larger than the limit of ${limit} bytes`);

/**
 * Reads a request body of at most `limit` bytes (after decoding a gzip, deflate or br content-encoding).
 * On failure the rest of the request is drained before the promise rejects, so the error reply does not
 * race a client that is still sending.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== 'identity' && !decoder) {
    return drained(req, new AppError('unsupported_encoding', 415, `unsupported content-encoding "${encoding.slice(0, 32)}"; expected gzip, deflate, br or identity`));
  }
  const declared = Number(req.headers['content-length']);
  if (!decoder && declared > limit) return drained(req, tooLarge(limit));

  return new Promise((resolve, reject) => {
    const inflate = decoder?.();
    const source: Readable = inflate ? req.pipe(inflate) : req;
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (err: AppError) => {
      if (done) return;
      done = true;
      if (inflate) {
        req.unpipe(inflate);
        inflate.destroy();
      }
      drained(req, err).catch(reject);
    };
    source.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) fail(tooLarge(limit));
      else chunks.push(chunk);
    });
    source.on('end', () => {
      if (done) return;
      done = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    source.on('error', (err: NodeJS.ErrnoException) => {
      fail(new AppError('invalid_body', 400, `request body is not valid ${encoding} data (${err.code ?? err.message})`));
    });
    req.on('close', () => {
      if (!req.complete) fail(new AppError('request_aborted', 400, 'request was aborted by the client'));
    });
  });
}

/** Discards the rest of the request, then rejects with `err`. */
function drained(req: IncomingMessage, err: AppError): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (req.complete || req.destroyed) {
      reject(err);
      return;
    }
    req.once('end', () => reject(err));
    req.once('close', () => reject(err));
    req.resume();
  });
}

const JSON_TYPE = /^(application\/json|[\w.+-]+\/[\w.+-]+\+json)$/;

/** Row-format routes take JSON only, in UTF-8. */
export function checkJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  const [type = '', ...params] = (header ?? '').split(';');
  if (!JSON_TYPE.test(type.trim().toLowerCase())) {
    throw new AppError('unsupported_media_type', 415, `expected content-type application/json, got ${header ? JSON.stringify(header.slice(0, 100)) : 'none'}`);
  }
  for (const param of params) {
    const [name = '', value = ''] = param.split('=');
    if (name.trim().toLowerCase() !== 'charset') continue;
    const charset = value.trim().replace(/^"|"$/g, '').toLowerCase();
    if (charset !== 'utf-8' && charset !== 'utf8') {
      throw new AppError('unsupported_encoding', 415, `unsupported charset "${charset.slice(0, 32)}"; JSON bodies must be UTF-8`);
    }
  }
}

/** Parses a JSON body that must be an object or an array; an empty body is an empty object. */
export function parseJsonBody(body: Buffer): unknown {
  const text = body.toString('utf8');
  const first = /\S/.exec(text)?.[0];
  if (first === undefined) return {};
  if (first !== '{' && first !== '[') throw new AppError('invalid_json', 400, 'request body is not valid JSON: expected an object');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new AppError('invalid_json', 400, `request body is not valid JSON: ${(err as Error).message}`);
  }
}
