// The yardsticks for the HTTP layer, in one process:
//   GET /hello        a bare express 5 route answering a small JSON body (the goal's baseline);
//   POST /hello-json  the same after express.json() parses a body like /predict's;
//   GET /node-hello   the same small JSON body straight from node:http, with no framework at all;
//   POST /node-read   node:http reading a request body (e.g. /predict's) to its end, then the same small reply:
//                     the floor of a POST round trip, the one-core yardstick of iris /predict.
import http from 'node:http';
import express from 'express';

const app = express();
app.disable('x-powered-by');
app.disable('etag');
app.get('/hello', (_req, res) => {
  res.json({ hello: 'world' });
});
app.post('/hello-json', express.json(), (req, res) => {
  res.json({ hello: 'world', rows: Array.isArray((req.body as { instances?: unknown }).instances) ? 1 : 0 });
});

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/node-hello') {
    const body = JSON.stringify({ hello: 'world' });
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
    return;
  }
  if (req.method === 'POST' && req.url === '/node-read') {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = JSON.stringify({ hello: 'world', bytes: Buffer.concat(chunks).length });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    return;
  }
  app(req, res);
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
