/**
 * The built-in dashboard as the server serves it (no browser): the page's headers and its
 * Content-Security-Policy, a page that refers only to its own assets and holds no inline script or
 * style and no other origin, each asset in brotli, gzip or identity by `Accept-Encoding`, cache
 * headers, 404s for unknown and path-like names, HEAD, `/api/system/dashboard` with and without the
 * token, the jaegerUrl option checked as PERF_JAEGER_URL is, the files read once on the first request
 * (not at start), a missing build (503, no throw, one warning), and startSidecar's order: a host's own `/`
 * wins, `dashboard: false` leaves the page out. Runs after `npm run build` (dist/ui/public/).
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { Hono } from 'hono';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  addDashboard,
  createApp,
  DASHBOARD_CSP,
  type DashboardConfig,
  DEFAULT_DASHBOARD_ASSETS,
  dashboardOptionsOf,
  type SidecarServer,
  startSidecar,
} from '../../src/http/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { getLogger, setLogger } from '../../src/shared/logger.ts';
import { VERSION } from '../../src/shared/scope.ts';
import { LINK_BASE_URL_FORM } from '../../src/shared/urls.ts';
import { captureLogMessages } from '../helpers/logs.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

const TOKEN = 'dashboard-test-token-0123456789';
const ASSETS = fileURLToPath(DEFAULT_DASHBOARD_ASSETS);
/** The policy as the issue states it: any change to it is a decision, not an accident. */
const EXPECTED_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const THRESHOLDS = { memoryMb: 500, cpuPercent: 80 };

let t: TestTelemetry | undefined;
let sidecar: SidecarServer | undefined;
const previousLogger = getLogger();
afterEach(async () => {
  setLogger(previousLogger);
  await sidecar?.close();
  sidecar = undefined;
  await t?.cleanup();
  t = undefined;
});

beforeAll(() => {
  if (!existsSync(join(ASSETS, 'index.html'))) {
    throw new Error(`${ASSETS} has no index.html: run npm run build before these tests (npm test does)`);
  }
});

/** A sidecar app on a memory-only telemetry, without the request middleware. */
async function app(env: Record<string, string> = {}): Promise<Hono> {
  t = await startTestTelemetry({ REDIS_URL: '', ...env });
  return createApp({ telemetry: t.telemetry, middleware: false });
}

async function bytesOf(res: Response): Promise<Buffer> {
  return Buffer.from(await res.arrayBuffer());
}

/** The same-origin paths the page's HTML refers to (`src` and `href`). */
function referencesOf(html: string): string[] {
  return [...html.matchAll(/\s(?:src|href)="([^"]*)"/g)].map((m) => m[1] ?? '');
}

describe('GET / (the page)', () => {
  it('answers the page with its security and cache headers', async () => {
    const res = await (await app()).request('/');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(DASHBOARD_CSP).toBe(EXPECTED_CSP);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-cache');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('vary')).toBe('Accept-Encoding');
    expect(res.headers.get('etag')).toMatch(/^"[\w-]+"$/);
  });

  it('refers only to /ui/ assets that exist, with no inline script or style and no other origin', async () => {
    const a = await app();
    const html = await (await a.request('/')).text();
    const references = referencesOf(html);
    expect(references).toContainEqual(expect.stringMatching(/^\/ui\/app\.[A-Z0-9]+\.js$/));
    expect(references).toContainEqual(expect.stringMatching(/^\/ui\/app\.[A-Z0-9]+\.css$/));
    expect(references).toContainEqual(expect.stringMatching(/^\/ui\/favicon\.[a-f0-9]+\.svg$/));
    expect(html).toMatch(/<script type="module" src="\/ui\/app\.[A-Z0-9]+\.js"><\/script>/);
    expect(html).toMatch(/<link rel="icon" type="image\/svg\+xml" href="\/ui\/favicon\.[a-f0-9]+\.svg">/);
    for (const path of references.filter((r) => !r.startsWith('#'))) {
      expect(path, 'a same-origin /ui/ path').toMatch(/^\/ui\/[\w.-]+$/);
      expect((await a.request(path)).status, path).toBe(200);
    }
    for (const script of html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)) {
      expect(script[1]).toContain('src=');
      expect(script[2]).toBe('');
    }
    expect(html).not.toMatch(/\sstyle\s*=/i);
    expect(html).not.toMatch(/<style/i);
    expect(html).not.toMatch(/https?:\/\//);
    expect(html).not.toMatch(/\son[a-z]+\s*=/i);
  });

  it('sends the page compressed when accepted, the same bytes once decompressed', async () => {
    const a = await app();
    const plain = await bytesOf(await a.request('/', { headers: { 'accept-encoding': 'identity' } }));
    const br = await a.request('/', { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    expect(br.headers.get('content-encoding')).toBe('br');
    expect(brotliDecompressSync(await bytesOf(br)).equals(plain)).toBe(true);
    const gzip = await a.request('/', { headers: { 'accept-encoding': 'gzip' } });
    expect(gzip.headers.get('content-encoding')).toBe('gzip');
    expect(gunzipSync(await bytesOf(gzip)).equals(plain)).toBe(true);
    // Each representation has its own strong validator.
    expect(new Set([br, gzip].map((r) => r.headers.get('etag'))).size).toBe(2);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const a = await app();
    const first = await a.request('/', { headers: { 'accept-encoding': 'br' } });
    const etag = first.headers.get('etag') as string;
    const again = await a.request('/', { headers: { 'accept-encoding': 'br', 'if-none-match': etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    const other = await a.request('/', { headers: { 'accept-encoding': 'identity', 'if-none-match': etag } });
    expect(other.status).toBe(200);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const a = await app();
    const get = await a.request('/', { headers: { 'accept-encoding': 'identity' } });
    const head = await a.request('/', { method: 'HEAD', headers: { 'accept-encoding': 'identity' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(head.headers.get('content-length')).toBe(String((await bytesOf(get)).length));
    expect(head.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    expect(await head.text()).toBe('');
  });

  it('answers other methods with 405 and Allow', async () => {
    const res = await (await app()).request('/', { method: 'POST' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
  });

  it('tells the page whether the API needs a token', async () => {
    expect(await (await (await app()).request('/')).text()).toContain(
      '<meta name="perf-sidecar-auth" content="none">',
    );
    await t?.cleanup();
    const withToken = await app({ PERF_API_TOKEN: TOKEN });
    const res = await withToken.request('/');
    // The page itself is open: it is what asks for the token.
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('<meta name="perf-sidecar-auth" content="bearer">');
  });
});

describe('GET /ui/:file (the assets)', () => {
  const names = () => readdirSync(ASSETS).filter((name) => !/\.(gz|br)$/.test(name) && name !== 'index.html');

  it('has the hashed files the build writes, each with .gz and .br siblings', () => {
    const all = readdirSync(ASSETS);
    expect(names()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^app\.[A-Z0-9]+\.js$/),
        expect.stringMatching(/^app\.[A-Z0-9]+\.css$/),
        expect.stringMatching(/^favicon\.[a-f0-9]+\.svg$/),
      ]),
    );
    for (const name of [...names(), 'index.html']) {
      expect(all).toContain(`${name}.gz`);
      expect(all).toContain(`${name}.br`);
    }
  });

  it('serves every asset as brotli, gzip or identity by Accept-Encoding, cached for good', async () => {
    const a = await app();
    const types: Record<string, string> = {
      js: 'text/javascript; charset=utf-8',
      css: 'text/css; charset=utf-8',
      svg: 'image/svg+xml',
      map: 'application/json; charset=utf-8',
    };
    for (const name of names()) {
      const onDisk = readFileSync(join(ASSETS, name));
      const plain = await a.request(`/ui/${name}`);
      expect(plain.status, name).toBe(200);
      expect(plain.headers.get('content-encoding'), name).toBeNull();
      expect((await bytesOf(plain)).equals(onDisk), name).toBe(true);
      expect(plain.headers.get('content-type')).toBe(types[name.slice(name.lastIndexOf('.') + 1)]);
      expect(plain.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(plain.headers.get('vary')).toBe('Accept-Encoding');
      expect(plain.headers.get('x-content-type-options')).toBe('nosniff');

      const br = await a.request(`/ui/${name}`, {
        headers: { 'accept-encoding': 'gzip, deflate, br, zstd' },
      });
      expect(br.headers.get('content-encoding'), name).toBe('br');
      expect(br.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(brotliDecompressSync(await bytesOf(br)).equals(onDisk), name).toBe(true);

      const gzip = await a.request(`/ui/${name}`, { headers: { 'accept-encoding': 'gzip, br;q=0' } });
      expect(gzip.headers.get('content-encoding'), name).toBe('gzip');
      expect(gunzipSync(await bytesOf(gzip)).equals(onDisk), name).toBe(true);
    }
  });

  it('weighs codings by q: gzip preferred over brotli, refused ones never sent', async () => {
    const a = await app();
    const [script] = names().filter((n) => n.endsWith('.js'));
    const encoding = async (accept: string) =>
      (await a.request(`/ui/${script}`, { headers: { 'accept-encoding': accept } })).headers.get(
        'content-encoding',
      );
    expect(await encoding('br;q=0.5, gzip;q=1')).toBe('gzip');
    expect(await encoding('br;q=0, gzip;q=0')).toBeNull();
    expect(await encoding('*')).toBe('br');
    expect(await encoding('*, br;q=0')).toBe('gzip');
    expect(await encoding('x-gzip')).toBe('gzip');
    expect(await encoding('deflate')).toBeNull();
  });

  it('reads q as RFC 9110 writes it (0 to 1, at most three decimals), and leaves out a coding whose q it cannot read', async () => {
    const a = await app();
    const [script] = names().filter((n) => n.endsWith('.js'));
    const encoding = async (accept: string) =>
      (await a.request(`/ui/${script}`, { headers: { 'accept-encoding': accept } })).headers.get(
        'content-encoding',
      );
    // Three decimals at most: a longer weight is no weight, never the default of 1.
    expect(await encoding('br;q=0.00000')).toBeNull();
    expect(await encoding('br;q=0.00000, gzip;q=0.5')).toBe('gzip');
    expect(await encoding('br;q=0.001, gzip;q=0')).toBe('br');
    expect(await encoding('br;q=0.999, gzip;q=1.000')).toBe('gzip');
    expect(await encoding('br;Q=0.5, gzip;q=0.25')).toBe('br');
    expect(await encoding('br ; q=0.5 , gzip;q=0.75')).toBe('gzip');
    // Above 1, no leading digit, a sign, an exponent, a repeated `=`, or empty: left out.
    for (const q of ['1.5', '1.0001', '2', '.5', '-0', '+1', '1e0', '0.5=1', '', 'abc']) {
      expect(await encoding(`br;q=${q}, gzip;q=0.1`), `br;q=${q}`).toBe('gzip');
    }
    // Left out entirely: `*` then stands for it.
    expect(await encoding('br;q=5, *;q=0.5')).toBe('br');
  });

  it('answers HEAD for an asset with its length and no body', async () => {
    const a = await app();
    const [style] = names().filter((n) => n.endsWith('.css'));
    const head = await a.request(`/ui/${style}`, { method: 'HEAD', headers: { 'accept-encoding': 'br' } });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-encoding')).toBe('br');
    expect(head.headers.get('content-length')).toBe(String(readFileSync(join(ASSETS, `${style}.br`)).length));
    expect(await head.text()).toBe('');
  });

  it.each([
    '/ui/app.NOPE.js',
    '/ui/index.html',
    '/ui/..%2Fpackage.json',
    '/ui/%2e%2e%2f%2e%2e%2fpackage.json',
    '/ui/..%5Cpackage.json',
    '/ui/%2Fetc%2Fpasswd',
    '/ui/../../package.json',
    '/ui/nested/app.js',
    '/ui/',
  ])('answers %s with a 404 JSON error, reading no file', async (path) => {
    const res = await (await app()).request(path);
    expect(res.status).toBe(404);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const body = (await res.json()) as { error: string; detail: string };
    expect(body.error).toBe('not_found');
    expect(body.detail).toEqual(expect.any(String));
    expect(JSON.stringify(body)).not.toContain('"name"');
  });

  it('answers /favicon.ico with the page icon', async () => {
    const res = await (await app()).request('/favicon.ico');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
  });
});

describe('GET /api/system/dashboard', () => {
  it('answers the service, thresholds, auth and version', async () => {
    const res = await (await app({ MEMORY_ALERT_THRESHOLD: '640', CPU_ALERT_THRESHOLD: '90' })).request(
      '/api/system/dashboard',
    );
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      service: 'perf-sidecar',
      jaeger_url: null,
      thresholds: { memory_mb: 640, cpu_percent: 90 },
      auth: false,
      version: VERSION,
    } satisfies DashboardConfig);
  });

  it('takes the thresholds the middleware options give', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const a = createApp({
      telemetry: t.telemetry,
      middleware: { memoryAlertThreshold: 256, cpuAlertThreshold: 50, enableResourceMonitoring: false },
    });
    const body = (await (await a.request('/api/system/dashboard')).json()) as DashboardConfig;
    expect(body.thresholds).toEqual({ memory_mb: 256, cpu_percent: 50 });
  });

  it('needs the token like every /api/system/* endpoint', async () => {
    const a = await app({ PERF_API_TOKEN: TOKEN });
    const refused = await a.request('/api/system/dashboard');
    expect(refused.status).toBe(401);
    expect(await refused.json()).toMatchObject({ error: 'unauthorized' });
    const wrong = await a.request('/api/system/dashboard', { headers: { authorization: 'Bearer wrong' } });
    expect(wrong.status).toBe(401);
    const res = await a.request('/api/system/dashboard', { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ auth: true, service: 'perf-sidecar' });
    // The page and its assets stay open: they hold no data.
    expect((await a.request('/')).status).toBe(200);
  });

  it('gives the Jaeger UI without a trailing slash, and refuses a URL that is not http(s)', async () => {
    const a = new Hono();
    addDashboard(a, { service: 'svc', thresholds: THRESHOLDS, jaegerUrl: 'http://jaeger.local:16686/' });
    expect(await (await a.request('/api/system/dashboard')).json()).toMatchObject({
      service: 'svc',
      jaeger_url: 'http://jaeger.local:16686',
    });
    expect(() =>
      addDashboard(new Hono(), { service: 'svc', thresholds: THRESHOLDS, jaegerUrl: 'javascript:alert(1)' }),
    ).toThrow(`jaegerUrl: has the scheme "javascript:", not http: or https:; expected ${LINK_BASE_URL_FORM}`);
    expect(() =>
      addDashboard(new Hono(), { service: 'svc', thresholds: { memoryMb: 0, cpuPercent: 80 } }),
    ).toThrow('thresholds.memoryMb: is 0; expected a positive number');
  });
});

describe('the jaegerUrl option', () => {
  const PASSWORD = 's3cret-pa55';

  /** The message addDashboard throws for `jaegerUrl`, or `undefined` when it accepts it. */
  function refusal(jaegerUrl: string): string | undefined {
    try {
      addDashboard(new Hono(), { service: 'svc', thresholds: THRESHOLDS, jaegerUrl });
      return undefined;
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidArgumentError);
      return (error as Error).message;
    }
  }

  it('refuses a user and password, which every reader of the links would see, without echoing them', () => {
    const message = refusal(`https://admin:${PASSWORD}@jaeger.local:16686`);
    expect(message).toBe(
      `jaegerUrl: holds a user name or password (user:password@), which every reader of its links would see; expected ${LINK_BASE_URL_FORM}`,
    );
    expect(refusal('https://admin@jaeger.local:16686')).toMatch(/^jaegerUrl: holds a user name or password/);
    // Nothing else echoes it either: not even a text that is no URL at all.
    expect(refusal(`http://admin:${PASSWORD}@`)).not.toContain(PASSWORD);
  });

  it('refuses a query or a fragment, inside which the appended /trace/<id> would land', () => {
    for (const url of ['http://jaeger.local:16686/?token=abc', 'http://jaeger.local:16686/#search']) {
      expect(refusal(url)).toBe(
        `jaegerUrl: has a query or fragment, inside which an appended path would land; expected ${LINK_BASE_URL_FORM}`,
      );
    }
  });

  it('accepts what PERF_JAEGER_URL accepts, normalised as it is', async () => {
    const a = new Hono();
    addDashboard(a, { service: 'svc', thresholds: THRESHOLDS, jaegerUrl: ' https://JAEGER.local/ui// ' });
    expect(await (await a.request('/api/system/dashboard')).json()).toMatchObject({
      jaeger_url: 'https://jaeger.local/ui',
    });
    expect(loadConfig({ PERF_JAEGER_URL: ' https://JAEGER.local/ui// ' }).jaegerUrl).toBe(
      'https://jaeger.local/ui',
    );
    expect(refusal('not a url')).toBe(`jaegerUrl: is not a URL; expected ${LINK_BASE_URL_FORM}`);
  });
});

describe('when the files are read', () => {
  it('reads them once, on the first request for one of them, not when the dashboard is added', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-dashboard-'));
    try {
      writeFileSync(join(dir, 'index.html'), '<!doctype html><title>page</title>');
      writeFileSync(join(dir, 'app.ABC.js'), 'export const at = "start";');
      const a = new Hono();
      addDashboard(a, { service: 'svc', thresholds: THRESHOLDS, assetsDir: dir });
      // Written after addDashboard: what the first request reads.
      writeFileSync(join(dir, 'app.ABC.js'), 'export const at = "first request";');
      expect(await (await a.request('/ui/app.ABC.js')).text()).toBe('export const at = "first request";');
      writeFileSync(join(dir, 'app.ABC.js'), 'export const at = "later";');
      expect(await (await a.request('/ui/app.ABC.js')).text()).toBe('export const at = "first request";');
      expect((await a.request('/')).status).toBe(200);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a missing build', () => {
  it('answers GET / with 503 dashboard_not_built, logs one warning, and throws nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-dashboard-'));
    rmSync(dir, { recursive: true });
    const log = captureLogMessages();
    const a = new Hono();
    expect(() => addDashboard(a, { service: 'svc', thresholds: THRESHOLDS, assetsDir: dir })).not.toThrow();
    const res = await a.request('/');
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({
      error: 'dashboard_not_built',
      detail: `the dashboard assets are missing from ${dir}; run npm run build`,
    });
    await a.request('/');
    expect((await a.request('/ui/app.ABC.js')).status).toBe(404);
    expect((await a.request('/favicon.ico')).status).toBe(204);
    expect(log.filter((line) => line.includes('dashboard assets missing'))).toHaveLength(1);
    // The API part does not need the files.
    expect((await a.request('/api/system/dashboard')).status).toBe(200);
  });

  it('answers 503 when the directory has assets but no index.html', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'perf-dashboard-'));
    const log = captureLogMessages();
    try {
      const a = new Hono();
      addDashboard(a, { service: 'svc', thresholds: THRESHOLDS, assetsDir: dir });
      expect((await a.request('/')).status).toBe(503);
      expect(log).toContain('dashboard assets missing; GET / answers 503 until `npm run build` has run');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startSidecar and the dashboard', () => {
  it('keeps a host route on / and still serves the assets and the dashboard API', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    sidecar = await startSidecar({
      host: '127.0.0.1',
      port: 0,
      database: false,
      routes: (a) => {
        a.get('/', (c) => c.text('the host page'));
      },
    });
    const res = await fetch(`${sidecar.url}/`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('the host page');
    expect((await fetch(`${sidecar.url}/api/system/dashboard`)).status).toBe(200);
    const [script] = readdirSync(ASSETS).filter((n) => /^app\.[A-Z0-9]+\.js$/.test(n));
    expect((await fetch(`${sidecar.url}/ui/${script}`)).status).toBe(200);
  });

  it('serves the page by default', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    sidecar = await startSidecar({ host: '127.0.0.1', port: 0, database: false });
    const res = await fetch(`${sidecar.url}/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toBe(EXPECTED_CSP);
    // fetch decompresses: the body is the page whatever the encoding.
    expect(await res.text()).toContain('<title>perf-sidecar dashboard</title>');
  });

  it('leaves the dashboard out with dashboard: false', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    sidecar = await startSidecar({ host: '127.0.0.1', port: 0, database: false, dashboard: false });
    const res = await fetch(`${sidecar.url}/`);
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'not_found' });
    expect((await fetch(`${sidecar.url}/api/system/dashboard`)).status).toBe(404);
    expect((await fetch(`${sidecar.url}/livez`)).status).toBe(200);
  });

  it('leaves it out of createApp with dashboard: false', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const a = createApp({ telemetry: t.telemetry, middleware: false, dashboard: false });
    expect((await a.request('/')).status).toBe(404);
    expect((await a.request('/api/system/dashboard')).status).toBe(404);
  });

  it("loses a createApp user's later / to the page, and keeps it with dashboard: false and addDashboard after", async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const options = { telemetry: t.telemetry, middleware: false } as const;
    // Registered after createApp: the page, registered inside it, answers first.
    const late = createApp(options);
    late.get('/', (c) => c.text('my page'));
    expect(await (await late.request('/', { headers: { 'accept-encoding': 'identity' } })).text()).toContain(
      '<title>perf-sidecar dashboard</title>',
    );
    // The way around, as startSidecar does it.
    const mine = createApp({ ...options, dashboard: false });
    mine.get('/', (c) => c.text('my page'));
    addDashboard(mine, dashboardOptionsOf(options));
    expect(await (await mine.request('/')).text()).toBe('my page');
    expect((await mine.request('/api/system/dashboard')).status).toBe(200);
  });
});
