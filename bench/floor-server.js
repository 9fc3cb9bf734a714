// The floor of the limits bench: plain node:http that answers every POST with a 503 at once (no body read;
// the upload is drained two at a time, as meshserve drains refused uploads) and everything else with 200.
// It is not meshserve: it shows what any Node HTTP server scores in the same bursts on the same machine.
//   npm run bench -- limits --root=bench/floor-server.js --name=limits-floor
import http from 'node:http';

const DRAIN_CONCURRENCY = 2;
let draining = 0;
const waiting = [];

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"status":"ok"}');
    return;
  }
  const text = '{"error":"refused without reading the body","code":"memory_exhausted"}';
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', 'content-length': String(text.length) });
  res.write(text);
  const start = () => {
    draining++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      res.end();
      draining--;
      waiting.shift()?.();
    };
    if (req.complete || req.destroyed) return finish();
    req.once('end', finish);
    req.once('close', finish);
    req.resume();
  };
  if (draining < DRAIN_CONCURRENCY) start();
  else waiting.push(start);
});

server.listen(Number(process.env.PORT), process.env.HOST ?? '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
