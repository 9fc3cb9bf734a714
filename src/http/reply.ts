import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { isRefusal, toHttpError } from '../errors.ts';
import type { Turn } from '../inference/turns.ts';
import { pauseForTurn } from './body.ts';
import { apiHeaders, type RequestState } from './request-log.ts';

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendText(res, status, JSON.stringify(body), headers);
}

/**
 * Writes the status line and headers in one writeHead() call: the API's headers (request-log.ts) unless
 * `headers` gives its own value for one of them, then `headers` (lower-case names).
 */
export function writeHead(res: ServerResponse, status: number, headers: Record<string, string>): void {
  const base = apiHeaders(res);
  const list: string[] = [];
  for (let i = 0; i < base.length; i += 2) if (!(base[i]! in headers)) list.push(base[i]!, base[i + 1]!);
  for (const name in headers) list.push(name, headers[name]!);
  res.writeHead(status, list);
}

/** Sends text (or its UTF-8 bytes) that is already JSON. */
export function sendText(res: ServerResponse, status: number, text: string | Buffer, headers: Record<string, string> = {}): void {
  writeHead(res, status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.end(text);
}

/** The one place an error becomes a reply: status, headers and `{ error, code }`; faults are logged, never shown. */
export function sendError(logger: Logger, res: ServerResponse, state: RequestState, route: string, err: unknown, drains: Drains): void {
  const { status, headers, body } = toHttpError(err);
  state.errorCode = body.code;
  if (!isRefusal(status)) logger.error({ err, requestId: state.id, route }, 'request failed');
  // 499: the client left; nobody is there to answer.
  if (res.headersSent || status === 499) {
    res.destroy();
    return;
  }
  const req = res.req;
  if (req && !req.complete && !req.destroyed && Number(req.headers['content-length'] ?? 1) > 0) {
    answerThenDrain(res, status, JSON.stringify(body), headers, drains);
    return;
  }
  sendJson(res, status, body, headers);
}

/**
 * Refused uploads read (and dropped) at once; the others wait, paused, so TCP holds their clients back.
 * Reading 60 refused 14 MB uploads all at once kept the main thread so busy that /healthz answered in
 * 0.8 s at the 99th percentile (`npm run bench -- limits`, one core).
 */
const DRAIN_CONCURRENCY = 2;

/** Longest a refused request's body is read (and dropped) before its connection is closed anyway. */
const DRAIN_MS = 30_000;

/** The refused uploads of one server: at most DRAIN_CONCURRENCY are read at once, chunk by chunk in turns. */
export class Drains {
  #running = 0;
  readonly #waiting: (() => void)[] = [];

  /** `turn`: a turn of main-thread work (core.turn()), taken before each chunk is dropped. */
  constructor(readonly turn?: Turn) {}

  /** Runs `drain` now or once a running one calls its `done`. */
  run(drain: (done: () => void) => void): void {
    const start = () => {
      this.#running++;
      let done = false;
      drain(() => {
        if (done) return;
        done = true;
        this.#running--;
        this.#waiting.shift()?.();
      });
    };
    if (this.#running < DRAIN_CONCURRENCY) start();
    else this.#waiting.push(start);
  }
}

/**
 * A refusal sent before the request's body was read (503 memory_exhausted, 404, ...): the answer goes out at
 * once, but the response ends only after the client's upload, read and dropped. Ending it sooner makes Node
 * close a `Connection: close` socket the client is still writing to; the reset then reaches the client
 * (EPIPE, ECONNRESET) instead of, or on top of, this answer.
 */
function answerThenDrain(res: ServerResponse, status: number, text: string, headers: Record<string, string>, drains: Drains): void {
  const req = res.req;
  writeHead(res, status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)) });
  res.write(text);
  drains.run((done) => {
    // Dropped chunk by chunk in turns of main-thread work while requests wait for theirs.
    const onData = () => pauseForTurn(req, drains.turn);
    const finish = () => {
      req.off('data', onData);
      clearTimeout(timer);
      if (!res.writableEnded) res.end();
      done();
    };
    const timer = setTimeout(() => {
      res.destroy();
      finish();
    }, DRAIN_MS);
    timer.unref();
    if (req.complete || req.destroyed) return finish();
    req.once('end', finish);
    req.once('close', finish);
    req.on('data', onData);
    req.resume();
  });
}
