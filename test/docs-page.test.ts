// /docs in a real browser: Debian's Chromium, driven by playwright-core, loads the page from the
// service on loopback, runs the iris example with "Try it out" and reads the prediction.
// UPDATE_SCREENSHOT=1 also rewrites docs/docs-page.png (test runs leave the tree alone otherwise).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { describe, test } from './helpers/node-test.ts';
import { DOCS_CSP } from '../src/http/docs-page.ts';
import { startService } from './helpers/service.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const SCREENSHOT = new URL('../docs/docs-page.png', import.meta.url);
const IRIS = {
  config: JSON.parse(await readFile(new URL('../models/iris/config.json', import.meta.url), 'utf8')),
  versions: { 1: new Uint8Array(await readFile(new URL('../models/iris/1/model.onnx', import.meta.url))) },
};

describe('/docs over HTTP', () => {
  test('the page, its assets, and nothing else under /docs', async (t) => {
    const svc = await startService({ iris: IRIS });
    t.after(() => svc.close());

    const page = await fetch(`${svc.url}/docs`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('content-security-policy'), DOCS_CSP);
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const html = await page.text();
    assert.doesNotMatch(html, /(src|href)="(?!\/)/, 'every script, style and icon is same-origin (absolute path)');
    assert.doesNotMatch(html, /<style|style=|<script>/, 'no inline script or style');

    const assets = [...html.matchAll(/(?:src|href)="(\/docs\/[^"]+)"/g)].map((m) => m[1]!);
    assert.deepEqual(assets.map((a) => a.split('?')[0]).sort(), [
      '/docs/favicon-16x16.png',
      '/docs/favicon-32x32.png',
      '/docs/index.css',
      '/docs/init.js',
      '/docs/swagger-ui-bundle.js',
      '/docs/swagger-ui.css',
    ]);
    for (const asset of assets) {
      const res = await fetch(svc.url + asset);
      assert.equal(res.status, 200, asset);
      const ext = asset.split('?')[0]!.split('.').pop();
      const type = { js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', png: 'image/png' }[ext!];
      assert.equal(res.headers.get('content-type'), type, asset);
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable', asset);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', asset);
      assert.ok((await res.arrayBuffer()).byteLength > 0, asset);
    }
    const init = await (await fetch(`${svc.url}/docs/init.js`)).text();
    assert.match(init, /"url":"\/openapi.json"/);
    assert.match(init, /"validatorUrl":null/);

    const head = await fetch(`${svc.url}/docs`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal((await head.arrayBuffer()).byteLength, 0);

    for (const path of ['/docs/app.js', '/docs/swagger-ui-bundle.js.map', '/docs/index.html', '/docs/package.json', '/docs/swagger-initializer.js']) {
      const res = await fetch(svc.url + path);
      assert.equal(res.status, 404, path);
      assert.equal((await res.json()).code, 'route_not_found', path);
    }
  });

  test('the OpenAPI document carries the iris example for POST /predict', async (t) => {
    const svc = await startService({ iris: IRIS });
    t.after(() => svc.close());
    const doc = await (await fetch(`${svc.url}/openapi.json`)).json();
    const body = doc.paths['/predict'].post.requestBody;
    assert.equal(body.required, true);
    assert.deepEqual(body.content['application/json'].example, { instances: [[5.1, 3.5, 1.4, 0.2]] });
  });
});

describe('/docs in Chromium', () => {
  const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`;

  test('loads /docs, runs the iris example with "Try it out" and shows the prediction', { skip, timeout: 120_000 }, async (t) => {
    const { chromium } = await import('playwright-core');
    const svc = await startService({ iris: IRIS });
    t.after(() => svc.close());
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    t.after(() => browser.close());

    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Every request the page makes goes through here: loopback ones pass, any other is refused and recorded.
    const origin = new URL(svc.url).origin;
    const requests: string[] = [];
    const refused: string[] = [];
    await context.route('**/*', (route) => {
      const url = route.request().url();
      requests.push(url);
      if (new URL(url).origin === origin) return route.continue();
      refused.push(url);
      return route.abort('blockedbyclient');
    });
    const page = await context.newPage();
    const consoleErrors: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    await page.addInitScript(() => {
      const w = window as unknown as { cspViolations: string[] };
      w.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => w.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });

    const loaded = await page.goto(`${svc.url}/docs`);
    assert.equal(loaded?.status(), 200);
    const op = page.locator('.opblock-post').filter({ has: page.locator('.opblock-summary-path[data-path="/predict"]') });
    await op.locator('.opblock-summary').click();
    await op.getByRole('button', { name: 'Try it out' }).click();
    const editor = op.locator('textarea.body-param__text');
    assert.deepEqual(JSON.parse(await editor.inputValue()), { instances: [[5.1, 3.5, 1.4, 0.2]] });
    await op.getByRole('button', { name: 'Execute' }).click();

    const live = op.locator('.live-responses-table .response');
    const responseBody = live.locator('.response-col_description .highlight-code pre.microlight');
    await responseBody.waitFor();
    assert.equal((await live.locator('.response-col_status').innerText()).trim(), '200');
    const answer = JSON.parse(await responseBody.innerText());
    assert.equal(answer.model, 'iris');
    assert.equal(answer.predictions.length, 1);
    assert.equal(answer.predictions[0].label, 'setosa');
    // The service saw it: one POST /predict answered 200.
    assert.ok(svc.logs.some((l) => l.route === '/predict' && l.status === 200), 'the service logged POST /predict 200');

    // The page also lists the schemas.
    assert.equal(await page.locator('section.models .json-schema-2020-12__title').filter({ hasText: /^PredictRequest$/ }).count(), 1);

    assert.deepEqual(refused, [], 'no request left 127.0.0.1');
    assert.ok(requests.every((u) => u.startsWith(`${origin}/`)), requests.join('\n'));
    assert.ok(requests.some((u) => u.startsWith(`${origin}/openapi.json`)));
    assert.ok(requests.some((u) => u === `${origin}/predict`));
    const violations = await page.evaluate(() => (window as unknown as { cspViolations: string[] }).cspViolations);
    assert.deepEqual(violations, [], 'no CSP violation');
    assert.deepEqual(consoleErrors, [], 'no error in the console (a CSP violation would log one)');

    // From the top of the page down to the answer.
    await page.evaluate(() => window.scrollTo(0, 0));
    const box = (await live.boundingBox())!;
    const shot = await page.screenshot({ fullPage: true, clip: { x: 0, y: 0, width: 1280, height: Math.ceil(box.y + box.height + 24) } });
    assert.equal(shot.subarray(1, 4).toString(), 'PNG');
    if (process.env.UPDATE_SCREENSHOT === '1') await writeFile(SCREENSHOT, shot);
  });
});
