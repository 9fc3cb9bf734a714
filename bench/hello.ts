// The yardstick for the HTTP layer: a bare express 5 app with one route answering a small JSON body.
// GET /hello is the bare route; POST /hello-json also parses a JSON body like /predict does.
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
app.listen(Number(process.env.PORT ?? 0), '127.0.0.1');
