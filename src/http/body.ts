import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { parse as parseContentType, type ContentType } from 'content-type';
import getRawBody from 'raw-body';
import { AppError } from '../errors.ts';

const DECODERS: Record<string, () => zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress> = {
  gzip: () => zlib.createGunzip(),
  'x-gzip': () => zlib.createGunzip(),
  deflate: () => zlib.createInflate(),
  br: () => zlib.createBrotliDecompress(),
};

/**
 * Reads a request body of at most `limit` bytes (after decoding a gzip, deflate or br content-encoding),
 * with raw-body, the reader under express' own body parsers. On failure the rest of the request is
 * drained before the promise rejects, so the error reply does not race a client that is still sending.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoder = encoding === 'identity' ? undefined : DECODERS[encoding];
  if (encoding !== 'identity' && !decoder) {
    return drained(req, new AppError('unsupported_encoding', 415, `unsupported content-encoding "${encoding.slice(0, 32)}"; expected gzip, deflate, br or identity`));
  }
  const inflate = decoder?.();
  if (inflate) {
    // pipe() does not pass on a client that goes away mid-body: end the decoder too, or the read never settles.
    req.once('close', () => {
      if (!req.complete) inflate.destroy(new AppError('request_aborted', 400, 'request was aborted by the client'));
    });
  }
  try {
    // The declared length is checked (and the limit enforced before reading) only for an unencoded body.
    return await getRawBody(inflate ? req.pipe(inflate) : req, { limit, length: inflate ? null : (req.headers['content-length'] ?? null) });
  } catch (err) {
    if (inflate) {
      req.unpipe(inflate);
      inflate.destroy();
    }
    return drained(req, bodyError(err, limit, encoding));
  }
}

/** raw-body's and zlib's errors as the AppError a client sees. */
function bodyError(err: unknown, limit: number, encoding: string): AppError {
  if (err instanceof AppError) return err;
  switch ((err as { type?: string }).type) {
    case 'entity.too.large':
      return new AppError('body_too_large', 413, `request body is larger than the limit of ${limit} bytes (BODY_LIMIT)`);
    case 'request.aborted':
      return new AppError('request_aborted', 400, 'request was aborted by the client');
    case 'request.size.invalid':
      return new AppError('invalid_body', 400, 'request body length does not match its content-length header');
  }
  return new AppError('invalid_body', 400, `request body is not valid ${encoding} data (${(err as NodeJS.ErrnoException).code ?? 'decode error'})`);
}

/** Discards the rest of the request, then rejects with `err`. */
function drained(req: IncomingMessage, err: unknown): Promise<never> {
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

/** Row-format routes take JSON only (application/json or any +json type), in UTF-8. */
export function checkJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'];
  // What nearly every client sends, accepted without parsing (the parser accepts it too).
  if (header === 'application/json' || header === 'application/json; charset=utf-8') return;
  let parsed: ContentType | undefined;
  try {
    parsed = header === undefined ? undefined : parseContentType(header);
  } catch {
    parsed = undefined; // malformed: refused below like any other non-JSON type
  }
  if (!parsed || (parsed.type !== 'application/json' && !parsed.type.endsWith('+json'))) {
    throw new AppError('unsupported_media_type', 415, `expected content-type application/json, got ${header ? JSON.stringify(header.slice(0, 100)) : 'none'}`);
  }
  const charset = parsed.parameters.charset?.toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw new AppError('unsupported_encoding', 415, `unsupported charset "${charset.slice(0, 32)}"; JSON bodies must be UTF-8`);
  }
}
