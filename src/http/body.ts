import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import { parse as parseContentType, type ContentType } from 'content-type';
import getRawBody from 'raw-body';
import { AppError } from '../errors.ts';
import type { Turn } from '../inference/turns.ts';

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
export async function readBody(req: IncomingMessage, limit: number, turn?: Turn): Promise<Buffer> {
  // The client left while the request waited for its turn: what it sent is gone with the connection.
  if (req.destroyed) throw new AppError('request_aborted', 400, 'request was aborted by the client');
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
  const declared = inflate ? NaN : Number(req.headers['content-length']);
  if (Number.isSafeInteger(declared) && declared >= 0 && declared <= limit) return readDeclared(req, declared, turn);
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

/**
 * An unencoded body of a declared length, copied into one buffer of that size as it arrives: no list of
 * chunks kept until the end and no final copy of them all (a 16 MB body peaked at twice its size, and the
 * copy held the main thread for milliseconds at once). Node's parser never passes more than the declared length.
 */
function readDeclared(req: IncomingMessage, length: number, turn?: Turn): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let body: Buffer | undefined;
    let received = 0;
    const onData = (chunk: Buffer) => {
      // A small body usually comes whole in one chunk: it is used as it is.
      if (received === 0 && chunk.length === length) body = chunk;
      else {
        // Unpooled from 4 KiB on, so a large body can be transferred to the codec worker without a copy.
        body ??= length >= 4096 ? Buffer.allocUnsafeSlow(length) : Buffer.allocUnsafe(length);
        chunk.copy(body, received);
      }
      received += chunk.length;
      // The rest of the body is read in later turns when others wait for theirs: libuv reads up to 2 MB
      // of every readable socket per turn of the loop, and 60 large bodies at once made turns of 50 ms.
      if (received < length) pauseForTurn(req, turn);
    };
    const onEnd = () => {
      done();
      if (received === length) resolve(body ?? Buffer.alloc(0));
      else reject(new AppError('invalid_body', 400, 'request body length does not match its content-length header'));
    };
    const onClose = () => {
      done();
      reject(new AppError('request_aborted', 400, 'request was aborted by the client'));
    };
    const done = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
    };
    req.on('data', onData);
    req.once('end', onEnd);
    req.once('close', onClose);
  });
}

/** Takes a turn of main-thread work (turns.ts) before `req` is read further: paused until it comes. */
export function pauseForTurn(req: IncomingMessage, turn?: Turn): void {
  const wait = turn?.();
  if (!wait) return;
  req.pause();
  void wait.then(() => req.resume());
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
