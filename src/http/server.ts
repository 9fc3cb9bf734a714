import http from 'node:http';
import type { Duplex } from 'node:stream';
import { MAX_HEADERS, type RequestListener } from './router.ts';

/** Keep-alive above the Linkerd proxy's 3 s inbound idle timeout, so the proxy, not us, closes idle connections. */
export const KEEP_ALIVE_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 15_000;
/**
 * How often Node looks for connections past the header or request timeout (its default is 30 s, which
 * answers a 15 s header timeout after 15 to 45 s). With 1 s the 408 comes at most about a second late.
 */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;

export interface ServerTimeouts {
  /** Whole request line and headers (default HEADERS_TIMEOUT_MS). */
  headersTimeoutMs?: number;
  /** Whole request, body included (default the inference deadline plus 30 s). */
  requestTimeoutMs?: number;
}

/** The API's HTTP server with its timeouts; it does not listen. */
export function createHttpServer(listener: RequestListener, inferenceTimeoutMs: number, timeouts: ServerTimeouts = {}): http.Server {
  const server = http.createServer(
    {
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: timeouts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      // Receiving one whole request may not take longer than its inference deadline plus a margin.
      requestTimeout: timeouts.requestTimeoutMs ?? inferenceTimeoutMs + 30_000,
      connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
    },
    listener,
  );
  // One more than the limit is kept, so the router can tell "too many" from "exactly MAX_HEADERS" and answer 431
  // (Node itself drops the extra headers silently).
  server.maxHeadersCount = MAX_HEADERS + 1;
  server.on('clientError', answerClientError);
  return server;
}

export function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as { port: number }).port);
    });
  });
}

/**
 * Requests Node's HTTP parser rejects never reach the router; answer them with the same JSON error body
 * (Node's default is an empty 400) and close the connection.
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const [status, code, message] =
    err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request line and headers are larger than the server accepts (16 KiB)']
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request was not received in time']
        : [400, 'bad_request', `malformed HTTP request (${err.code ?? 'parse error'})`];
  const body = JSON.stringify({ error: message, code });
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}
