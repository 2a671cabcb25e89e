/**
 * The built-in dashboard: `GET /` (the page), `GET /ui/:file` (its content-hashed assets),
 * `GET /favicon.ico`, and `GET /api/system/dashboard` (what the page needs to know about this
 * sidecar). The page is built at package build time (`scripts/build-ui.mjs` writes
 * `dist/ui/public/`, each file with `.gz` and `.br` siblings); here the files are read once, into
 * memory, on the first request for one of them, and served as they are: brotli, gzip or identity by `Accept-Encoding`, never compressed
 * per request. Asset names are looked up in that map, never joined into a path, so no request can
 * reach another file. A missing build answers `GET /` with 503 and a warning, and throws nothing.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Context, Hono } from 'hono';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { VERSION } from '../shared/scope.ts';
import { LINK_BASE_URL_FORM, linkBaseUrlText } from '../shared/urls.ts';

/** Where `npm run build` puts the page; the same place from `src/http/` and from `dist/http/`. */
export const DEFAULT_DASHBOARD_ASSETS: URL = new URL('../../dist/ui/public/', import.meta.url);

/**
 * The page's Content-Security-Policy: scripts, styles, images and connections from this origin
 * only, no inline script or style. uPlot sizes and places its elements through the CSSOM
 * (`element.style.width = …`), which `style-src 'self'` allows, so it needs nothing more.
 */
export const DASHBOARD_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Most files read from the assets directory; a directory with more is not a build of the page. */
export const MAX_DASHBOARD_FILES = 200;
/** Most bytes read from the assets directory, all files together. */
export const MAX_DASHBOARD_BYTES = 32 * 1024 * 1024;

/** Alert thresholds the page draws as lines. */
export interface DashboardThresholds {
  /** `MEMORY_ALERT_THRESHOLD`, MiB. */
  readonly memoryMb: number;
  /** `CPU_ALERT_THRESHOLD`, percent. */
  readonly cpuPercent: number;
}

/** Options of {@link addDashboard}. */
export interface DashboardOptions {
  /** The sidecar's own service name: the page's default service. */
  readonly service: string;
  /**
   * Base URL of a Jaeger UI (`PERF_JAEGER_URL`): alerts with a trace id link to
   * `<jaegerUrl>/trace/<trace id>`. Checked as `PERF_JAEGER_URL` is: http(s), a host, no user,
   * password, query or fragment (the URL is shown to every reader of the page); default none
   * (no trace links).
   */
  readonly jaegerUrl?: string | undefined;
  /** Alert thresholds the page draws as lines. */
  readonly thresholds: DashboardThresholds;
  /**
   * Whether the API needs a bearer token. The page then asks for it before its first API call
   * instead of after a 401. Default false.
   */
  readonly auth?: boolean;
  /** Directory of the built page. Default {@link DEFAULT_DASHBOARD_ASSETS}. */
  readonly assetsDir?: string | URL;
}

/** Body of `GET /api/system/dashboard`. */
export interface DashboardConfig {
  readonly service: string;
  readonly jaeger_url: string | null;
  readonly thresholds: { readonly memory_mb: number; readonly cpu_percent: number };
  /** Whether the API needs a bearer token. */
  readonly auth: boolean;
  /** perf-sidecar's version. */
  readonly version: string;
}

/** One file as served: its bytes in each encoding the build wrote. */
interface Asset {
  readonly type: string;
  readonly identity: Uint8Array;
  readonly gzip: Uint8Array | undefined;
  readonly br: Uint8Array | undefined;
  /** Hash of the identity bytes, for the page's ETag (each encoding appends its name). */
  readonly hash: string;
}

/** Content types by file extension; anything else is sent as bytes. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  map: 'application/json; charset=utf-8',
  json: 'application/json; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  ico: 'image/x-icon',
  woff2: 'font/woff2',
  txt: 'text/plain; charset=utf-8',
};

/** Names the build writes: letters, digits, dots, dashes and underscores, nothing else. */
const ASSET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

const IMMUTABLE = 'public, max-age=31536000, immutable';

function assetOf(name: string, identity: Uint8Array, gzip?: Uint8Array, br?: Uint8Array): Asset {
  const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return {
    type: CONTENT_TYPES[extension] ?? 'application/octet-stream',
    identity,
    gzip,
    br,
    hash: createHash('sha256').update(identity).digest('base64url').slice(0, 27),
  };
}

/** What was read from the assets directory. */
interface Loaded {
  readonly page: Asset | undefined;
  readonly files: ReadonlyMap<string, Asset>;
  readonly favicon: Asset | undefined;
}

const NOTHING: Loaded = { page: undefined, files: new Map(), favicon: undefined };

/**
 * The files of the built page in `dir` that {@link loadAssets} reads (every file with its `.gz` and
 * `.br` siblings), listed and sized without reading them, bounded by {@link MAX_DASHBOARD_FILES}
 * and {@link MAX_DASHBOARD_BYTES}; an empty list when `dir` cannot be listed.
 *
 * @throws {Error} past the bounds.
 */
function surveyAssets(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir)
      .filter((name) => ASSET_NAME.test(name))
      .sort();
  } catch {
    return [];
  }
  const present = new Set(names);
  const chosen: string[] = [];
  let bytes = 0;
  const take = (name: string): boolean => {
    if (!present.has(name)) return false;
    // `name` comes from the directory listing, never from a request.
    const stat = statSync(join(dir, name));
    if (!stat.isFile()) return false;
    if (chosen.length + 1 > MAX_DASHBOARD_FILES || bytes + stat.size > MAX_DASHBOARD_BYTES) {
      throw new Error(
        `${dir} holds more than ${MAX_DASHBOARD_FILES} files or ${MAX_DASHBOARD_BYTES} bytes; expected a build of the dashboard`,
      );
    }
    bytes += stat.size;
    chosen.push(name);
    return true;
  };
  for (const name of names) {
    if (name.endsWith('.gz') || name.endsWith('.br')) continue;
    if (take(name) && name !== 'index.html') {
      take(`${name}.gz`);
      take(`${name}.br`);
    }
  }
  return chosen;
}

/**
 * Reads the files {@link surveyAssets} chose from `dir`. `auth` goes into the page's
 * `perf-sidecar-auth` meta element (which is why the page is compressed here, not by the build).
 */
function loadAssets(dir: string, chosen: readonly string[], auth: boolean): Loaded {
  const present = new Set(chosen);
  const read = (name: string): Uint8Array | undefined =>
    present.has(name) ? readFileSync(join(dir, name)) : undefined;
  const files = new Map<string, Asset>();
  let page: Asset | undefined;
  for (const name of chosen) {
    if (name.endsWith('.gz') || name.endsWith('.br')) continue;
    const identity = read(name);
    if (!identity) continue;
    if (name === 'index.html') {
      const html = Buffer.from(identity)
        .toString('utf8')
        .replace('<meta name="perf-sidecar-auth" content="none">', () =>
          auth
            ? '<meta name="perf-sidecar-auth" content="bearer">'
            : '<meta name="perf-sidecar-auth" content="none">',
        );
      const body = Buffer.from(html);
      page = assetOf(name, body, gzipSync(body, { level: 9 }), brotliOf(body));
      continue;
    }
    files.set(name, assetOf(name, identity, read(`${name}.gz`), read(`${name}.br`)));
  }
  const faviconName = [...files.keys()].find((name) => /^favicon\.[A-Za-z0-9]+\.svg$/.test(name));
  return { page, files, favicon: faviconName === undefined ? undefined : files.get(faviconName) };
}

function brotliOf(bytes: Uint8Array): Uint8Array {
  return brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
}

/**
 * A weight as RFC 9110 (12.4.2) writes it: 0 to 1 with at most three decimals (`0`, `0.5`, `1.000`).
 * Anything else (`0.00000`, `1.5`, `.5`) is not a weight.
 */
const QVALUE = /^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The weight (`q`) an `Accept-Encoding` header gives each coding it names. A coding whose weight
 * cannot be read is left out, as if the header did not name it: read as 1 it could make a coding
 * the client refused the preferred one.
 */
function acceptedCodings(header: string | undefined): Map<string, number> {
  const weights = new Map<string, number>();
  // Bounded: a header is short, and only the first few dozen codings matter.
  codings: for (const part of (header ?? '').slice(0, 1024).split(',').slice(0, 32)) {
    const [name = '', ...parameters] = part.trim().toLowerCase().split(';');
    if (name === '') continue;
    let q = 1;
    for (const parameter of parameters) {
      const [key = '', value, ...rest] = parameter.split('=');
      if (key.trim() !== 'q') continue;
      const text = value?.trim() ?? '';
      if (rest.length > 0 || !QVALUE.test(text)) continue codings;
      q = Number(text);
    }
    weights.set(name, q);
  }
  return weights;
}

/** The encoding to send: brotli or gzip when accepted (by weight, brotli on a tie), else identity. */
function encodingFor(asset: Asset, header: string | undefined): 'br' | 'gzip' | undefined {
  const weights = acceptedCodings(header);
  const any = weights.get('*') ?? 0;
  const weight = (name: string) =>
    weights.get(name) ?? (name === 'gzip' ? weights.get('x-gzip') : undefined) ?? any;
  const br = asset.br ? weight('br') : 0;
  const gzip = asset.gzip ? weight('gzip') : 0;
  if (br > 0 && br >= gzip) return 'br';
  if (gzip > 0) return 'gzip';
  return undefined;
}

/** The strong validator of `asset` in `encoding`: each representation has its own. */
function etagOf(asset: Asset, encoding: 'br' | 'gzip' | undefined): string {
  return encoding ? `"${asset.hash}-${encoding}"` : `"${asset.hash}"`;
}

/**
 * Answers `asset` in the best accepted encoding, with `headers` added; with `etag`, a strong ETag,
 * and 304 when `If-None-Match` names it.
 */
function send(c: Context, asset: Asset, headers: Readonly<Record<string, string>>, etag = false): Response {
  const encoding = encodingFor(asset, c.req.header('accept-encoding'));
  const bytes =
    (encoding === 'br' ? asset.br : encoding === 'gzip' ? asset.gzip : undefined) ?? asset.identity;
  const common: Record<string, string> = {
    vary: 'Accept-Encoding',
    'x-content-type-options': 'nosniff',
    ...headers,
    ...(etag ? { etag: etagOf(asset, encoding) } : {}),
  };
  const known = c.req.header('if-none-match');
  if (etag && known !== undefined) {
    // Weak comparison (RFC 9110 13.1.2): a `W/` prefix does not matter.
    const tags = known.split(',').map((tag) => tag.trim().replace(/^W\//, ''));
    if (tags.includes('*') || tags.includes(etagOf(asset, encoding))) {
      return new Response(null, { status: 304, headers: common });
    }
  }
  return new Response(bytes as Uint8Array<ArrayBuffer>, {
    status: 200,
    headers: {
      'content-type': asset.type,
      'content-length': String(bytes.byteLength),
      ...(encoding ? { 'content-encoding': encoding } : {}),
      ...common,
    },
  });
}

/** The options once checked: a directory path and a Jaeger URL without trailing slashes. */
interface CheckedOptions {
  readonly service: string;
  readonly jaegerUrl: string | undefined;
  readonly thresholds: DashboardThresholds;
  readonly auth: boolean;
  readonly assetsDir: string;
}

/** Checks and copies the options. @throws {InvalidArgumentError} naming the bad option. */
function checkOptions(options: DashboardOptions): CheckedOptions {
  const { service, thresholds } = options;
  if (typeof service !== 'string' || service === '') {
    throw new InvalidArgumentError('service', `is ${describeValue(service)}`, 'the own service name');
  }
  for (const [name, value] of [
    ['thresholds.memoryMb', thresholds?.memoryMb],
    ['thresholds.cpuPercent', thresholds?.cpuPercent],
  ] as const) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new InvalidArgumentError(name, `is ${describeValue(value)}`, 'a positive number');
    }
  }
  let jaegerUrl: string | undefined;
  if (options.jaegerUrl !== undefined) {
    // The rule of PERF_JAEGER_URL: a user or password would reach every reader of the page's
    // links and of /api/system/dashboard, and a query or fragment would swallow the appended path.
    const checked = linkBaseUrlText.safeParse(options.jaegerUrl);
    if (!checked.success) {
      // The schema's own problem, which never quotes the text (it may hold a password).
      const problem =
        typeof options.jaegerUrl === 'string'
          ? (checked.error.issues[0]?.message ?? 'is not accepted')
          : `is ${describeValue(options.jaegerUrl)}`;
      throw new InvalidArgumentError('jaegerUrl', problem, LINK_BASE_URL_FORM);
    }
    jaegerUrl = checked.data;
  }
  const dir = options.assetsDir ?? DEFAULT_DASHBOARD_ASSETS;
  return {
    service,
    thresholds: { memoryMb: thresholds.memoryMb, cpuPercent: thresholds.cpuPercent },
    auth: options.auth ?? false,
    jaegerUrl,
    assetsDir: dir instanceof URL ? fileURLToPath(dir) : dir,
  };
}

/**
 * Registers the dashboard on `app`: `GET /`, `GET /ui/:file`, `GET /favicon.ico` and
 * `GET /api/system/dashboard` (HEAD too; Hono answers it from GET). Register it after the
 * routes that should win over it (a host's own `/`), and after the auth middleware, which
 * `/api/system/dashboard` relies on like every `/api/system/*` route. The assets directory is
 * listed and checked now (when the page is missing, one warning is logged and `GET /` answers 503
 * `dashboard_not_built`); its files are read on the first request for the page, an asset or the
 * icon.
 *
 * @throws {InvalidArgumentError} on a bad option (never for missing assets).
 * @example
 * ```ts
 * addDashboard(app, { service: 'checkout', thresholds: { memoryMb: 500, cpuPercent: 80 } });
 * ```
 */
export function addDashboard(app: Hono, options: DashboardOptions): void {
  const o = checkOptions(options);
  const dir = o.assetsDir;
  let chosen: string[];
  try {
    chosen = surveyAssets(dir);
  } catch (error) {
    getLogger().warn({ err: (error as Error).message }, 'dashboard assets could not be read');
    chosen = [];
  }
  if (!chosen.includes('index.html')) {
    getLogger().warn({ dir }, 'dashboard assets missing; GET / answers 503 until `npm run build` has run');
  }
  // The files are read (and the page compressed) on the first request for one of them: about
  // 2.5 MiB of the idle sidecar's memory goes to them, which a sidecar whose dashboard nobody
  // opens would hold for nothing. What was listed and checked above is what is read.
  let loaded: Loaded | undefined;
  const assets = (): Loaded => {
    if (loaded) return loaded;
    try {
      loaded = chosen.length === 0 ? NOTHING : loadAssets(dir, chosen, o.auth);
    } catch (error) {
      getLogger().warn({ err: (error as Error).message }, 'dashboard assets could not be read');
      loaded = NOTHING;
    }
    return loaded;
  };
  const config: DashboardConfig = {
    service: o.service,
    jaeger_url: o.jaegerUrl ?? null,
    thresholds: { memory_mb: o.thresholds.memoryMb, cpu_percent: o.thresholds.cpuPercent },
    auth: o.auth,
    version: VERSION,
  };

  app.get('/', (c) => {
    const { page } = assets();
    if (!page) {
      return c.json(
        {
          error: 'dashboard_not_built',
          detail: `the dashboard assets are missing from ${dir}; run npm run build`,
        },
        503,
      );
    }
    return send(
      c,
      page,
      {
        'cache-control': 'no-cache',
        'content-security-policy': DASHBOARD_CSP,
        'referrer-policy': 'no-referrer',
        'x-frame-options': 'DENY',
      },
      true,
    );
  });

  app.get('/ui/:file', (c) => {
    const name = c.req.param('file');
    const asset = assets().files.get(name);
    if (!asset) {
      return c.json(
        { error: 'not_found', detail: `no dashboard asset named ${describeValue(name.slice(0, 128))}` },
        404,
      );
    }
    return send(c, asset, { 'cache-control': IMMUTABLE, 'content-security-policy': DASHBOARD_CSP });
  });

  // Browsers ask for /favicon.ico on pages without an icon link (and some tools always do).
  app.get('/favicon.ico', (c) => {
    const { favicon } = assets();
    if (!favicon) return c.body(null, 204, { 'cache-control': 'public, max-age=86400' });
    return send(c, favicon, { 'cache-control': 'public, max-age=86400' });
  });

  app.get('/api/system/dashboard', (c) => c.json(config, 200, { 'cache-control': 'no-store' }));
}
