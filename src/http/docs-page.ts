import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { writeHead } from './reply.ts';

// The /docs page: Swagger UI, served from the swagger-ui-dist package's own files (no CDN: pods have
// no internet), under a CSP that allows only this origin. Independent of express: a node:http handler.

export interface DocsPageOptions {
  /** Where the page loads the OpenAPI document from (same origin). Default /openapi.json. */
  specUrl?: string;
  /** The page's title. Default "API documentation". */
  title?: string;
}

/** Answers GET and HEAD under /docs and returns true, or returns false (and does nothing) for anything else. */
export type DocsPageHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The path of the page; its assets live below it (`/docs/<file>`). */
export const DOCS_PATH = '/docs';

/**
 * What the page needs and no more: a script and styles from this origin, images from this origin or
 * data: URIs (swagger-ui.css draws its icons as data: SVGs), and fetches to this origin (the document and
 * "Try it out"). Swagger UI needs no 'unsafe-inline' style: React sets the few inline styles it uses
 * through the CSSOM (element.style), which style-src does not govern, and it injects no <style> element.
 */
export const DOCS_CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

// The files of swagger-ui-dist that the page uses. Nothing else in the package (source maps, HTML
// samples, the standalone preset's top bar with its "explore any URL" box) is served.
const PACKAGE_FILES: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'index.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
  'favicon-16x16.png': 'image/png',
};
const INIT_FILE = 'init.js';

// Assets are named with a hash of their content in the page (?v=...), so they may be cached for long.
const ASSET_CACHE = 'public, max-age=31536000, immutable';

interface Asset {
  body: Buffer;
  type: string;
  hash: string;
}

const hashOf = (body: Buffer) => createHash('sha256').update(body).digest('base64url').slice(0, 16);

function asset(body: Buffer, type: string): Asset {
  return { body, type, hash: hashOf(body) };
}

/** The folder of the installed swagger-ui-dist package. */
export function swaggerUiDistDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('swagger-ui-dist/package.json'));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Builds the /docs handler. The package's files are read once, here, and kept in memory; a missing
 * file fails here, at start, rather than on a person's first visit.
 */
export function createDocsPage(options: DocsPageOptions = {}): DocsPageHandler {
  const specUrl = options.specUrl ?? '/openapi.json';
  const title = options.title ?? 'API documentation';
  const dir = swaggerUiDistDir();

  const assets = new Map<string, Asset>();
  for (const [file, type] of Object.entries(PACKAGE_FILES)) assets.set(`${DOCS_PATH}/${file}`, asset(readFileSync(path.join(dir, file)), type));

  // Our initializer: the one script of ours on the page. Swagger UI's validator badge would call an
  // outside service: validatorUrl null turns it off. "Try it out" sends to this origin (the document
  // lists no servers), which connect-src 'self' allows.
  const config = {
    url: specUrl,
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 1,
    defaultModelExpandDepth: 2,
    supportedSubmitMethods: ['get', 'post'],
  };
  const init = `'use strict';
window.addEventListener('load', function () {
  var config = ${JSON.stringify(config)};
  config.presets = [SwaggerUIBundle.presets.apis];
  config.layout = 'BaseLayout';
  window.ui = SwaggerUIBundle(config);
});
`;
  assets.set(`${DOCS_PATH}/${INIT_FILE}`, asset(Buffer.from(init), 'text/javascript; charset=utf-8'));

  const href = (file: string) => {
    const a = assets.get(`${DOCS_PATH}/${file}`)!;
    return `${DOCS_PATH}/${file}?v=${a.hash}`;
  };
  const page = Buffer.from(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="${href('swagger-ui.css')}">
<link rel="stylesheet" href="${href('index.css')}">
<link rel="icon" type="image/png" sizes="32x32" href="${href('favicon-32x32.png')}">
<link rel="icon" type="image/png" sizes="16x16" href="${href('favicon-16x16.png')}">
</head>
<body>
<div id="swagger-ui"><noscript>This page needs JavaScript. The API description itself is at <a href="${escapeHtml(specUrl)}">${escapeHtml(specUrl)}</a>.</noscript></div>
<script src="${href('swagger-ui-bundle.js')}"></script>
<script src="${href(INIT_FILE)}"></script>
</body>
</html>
`);

  const send = (req: IncomingMessage, res: ServerResponse, body: Buffer, headers: Record<string, string>) => {
    writeHead(res, 200, {
      ...headers,
      'content-length': String(body.length),
      'x-content-type-options': 'nosniff',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query < 0 ? url : url.slice(0, query);
    if (pathname === DOCS_PATH || pathname === `${DOCS_PATH}/`) {
      send(req, res, page, {
        'content-type': 'text/html; charset=utf-8',
        'content-security-policy': DOCS_CSP,
        'cache-control': 'no-cache',
        'referrer-policy': 'no-referrer',
      });
      return true;
    }
    // An exact look-up in a fixed table: no path from the request ever reaches the filesystem.
    const found = assets.get(pathname);
    if (!found) return false;
    send(req, res, found.body, { 'content-type': found.type, 'cache-control': ASSET_CACHE, 'content-security-policy': "default-src 'none'; frame-ancestors 'none'" });
    return true;
  };
}
