import type { ServerResponse } from 'node:http';

const PAGE_CSP = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/** GET /docs and its assets. */
export function createDocsPage() {
  const assets: Record<string, { type: string; body: string }> = { 'app.js': { type: 'application/javascript', body: DOCS_JS } };
  return {
    page(res: ServerResponse): void {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': PAGE_CSP, 'content-length': Buffer.byteLength(DOCS_HTML) });
      res.end(DOCS_HTML);
    },
    /** Answers an asset; false when there is no such file. */
    asset(res: ServerResponse, file: string): boolean {
      const asset = assets[file];
      if (!asset) return false;
      res.writeHead(200, { 'content-type': asset.type, 'content-length': Buffer.byteLength(asset.body) });
      res.end(asset.body);
      return true;
    },
  };
}

/** A self-contained page that renders /openapi.json (no external scripts: works offline and under a strict CSP). */
const DOCS_HTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshserve API</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
h1{margin-bottom:0}.op{border:1px solid #ddd;border-radius:6px;margin:.8rem 0;padding:.6rem 1rem}
.m{display:inline-block;min-width:4rem;font-weight:700;text-transform:uppercase}.get{color:#0a6}.post{color:#06c}
code,pre{background:#f5f5f5;border-radius:4px;padding:.1rem .3rem}pre{padding:.6rem;overflow:auto;font-size:13px}
details summary{cursor:pointer;color:#555}
</style></head>
<body><h1>meshserve API</h1><p id="desc"></p><div id="ops">Loading <code>/openapi.json</code>…</div>
<script src="/docs/app.js"></script></body></html>`;

const DOCS_JS = `
fetch('/openapi.json').then(r => r.json()).then(doc => {
  document.getElementById('desc').textContent = doc.info.description + ' Version ' + doc.info.version + '.';
  const ops = document.getElementById('ops'); ops.textContent = '';
  const resolve = s => s && s.$ref ? doc.components.schemas[s.$ref.split('/').pop()] : s;
  for (const [path, item] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(item)) {
    const div = document.createElement('div'); div.className = 'op';
    const head = document.createElement('div');
    const m = document.createElement('span'); m.className = 'm ' + method; m.textContent = method;
    const p = document.createElement('code'); p.textContent = path;
    head.append(m, p, ' ', op.summary || ''); div.append(head);
    const body = op.requestBody && op.requestBody.content['application/json'];
    if (body) { const d = document.createElement('details'); d.innerHTML = '<summary>Request body</summary>';
      const pre = document.createElement('pre'); pre.textContent = JSON.stringify(resolve(body.schema), null, 2); d.append(pre); div.append(d); }
    const d = document.createElement('details'); d.innerHTML = '<summary>Responses</summary>';
    const pre = document.createElement('pre');
    pre.textContent = Object.entries(op.responses).map(([code, r]) => code + ' ' + r.description).join('\\n'); d.append(pre); div.append(d);
    ops.append(div);
  }
}).catch(e => { document.getElementById('ops').textContent = 'Could not load /openapi.json: ' + e; });
`;
