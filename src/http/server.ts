import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestListener } from './router.ts';

/** Keep-alive above the Linkerd proxy's 3 s inbound idle timeout, so the proxy, not us, closes idle connections. */
export const KEEP_ALIVE_TIMEOUT_MS = 10_000;
export const HEADERS_TIMEOUT_MS = 15_000;

/** The API's HTTP server with its timeouts; it does not listen. */
export function createHttpServer(listener: RequestListener, requestTimeoutMs: number): http.Server {
  const server = http.createServer(
    {
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
      headersTimeout: HEADERS_TIMEOUT_MS,
      // Receiving one whole request may not take longer than its inference deadline plus a margin.
      requestTimeout: requestTimeoutMs + 30_000,
    },
    listener,
  );
  server.maxHeadersCount = 100;
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
