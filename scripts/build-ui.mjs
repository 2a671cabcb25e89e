// Builds the dashboard page (`npm run build` runs it after tsc): esbuild bundles src/ui/main.ts and
// the style sheets it imports into dist/ui/public/ as app.<hash>.js and app.<hash>.css (minified,
// target es2022, linked source maps), copies the favicon as favicon.<hash>.svg, writes index.html
// from src/ui/index.html with those names, and writes a gzip (level 9) and a brotli (best quality)
// sibling of every file, which the server sends as they are. Names come from the content, so the
// same sources give the same files, and a browser can cache them for good.
//
// `node scripts/build-ui.mjs --list` also prints the files and their sizes.
//
// Plain JavaScript, so that it runs on every Node the package supports (>= 22.15). The server
// (src/http/dashboard.ts) reads this directory once at start; nothing is built at run time.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const root = resolve(import.meta.dirname, '..');
const source = join(root, 'src/ui');
const out = join(root, 'dist/ui/public');

/** Fails the build with what is wrong and what was expected. */
function fail(message) {
  process.stderr.write(`build-ui: ${message}\n`);
  process.exit(1);
}

const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'src/ui/main.ts' },
  bundle: true,
  minify: true,
  sourcemap: 'linked',
  target: 'es2022',
  format: 'esm',
  platform: 'browser',
  outdir: out,
  entryNames: '[name].[hash]',
  assetNames: '[name].[hash]',
  charset: 'utf8',
  // Paths in the source maps through node_modules as the project sees it, not where a symlinked
  // node_modules really lives, so that the output does not depend on how the checkout is laid out.
  preserveSymlinks: true,
  legalComments: 'eof',
  write: false,
  logLevel: 'warning',
});

const files = new Map();
for (const file of result.outputFiles) files.set(relative(out, file.path), Buffer.from(file.contents));
const named = (pattern) => [...files.keys()].filter((name) => pattern.test(name));
const [script, ...extraScripts] = named(/^app\.[A-Z0-9]+\.js$/);
const [style, ...extraStyles] = named(/^app\.[A-Z0-9]+\.css$/);
if (!script || extraScripts.length > 0)
  fail(`expected one app.<hash>.js from esbuild, got ${[...files.keys()]}`);
if (!style || extraStyles.length > 0)
  fail(`expected one app.<hash>.css from esbuild, got ${[...files.keys()]}`);

const favicon = readFileSync(join(source, 'favicon.svg'));
const faviconName = `favicon.${createHash('sha256').update(favicon).digest('hex').slice(0, 10)}.svg`;
files.set(faviconName, favicon);

const template = readFileSync(join(source, 'index.html'), 'utf8');
const placeholders = { '%APP_JS%': script, '%APP_CSS%': style, '%FAVICON%': faviconName };
let html = template;
for (const [placeholder, name] of Object.entries(placeholders)) {
  if (!html.includes(placeholder)) fail(`src/ui/index.html lacks the placeholder ${placeholder}`);
  html = html.replaceAll(placeholder, name);
}
// The page's Content-Security-Policy allows no inline script or style and no other origin: hold
// the template to it here, where a mistake is cheap.
const inlineScript = /<script\b(?![^>]*\bsrc=)[^>]*>/i.exec(html);
if (inlineScript)
  fail(`src/ui/index.html has an inline script (${inlineScript[0]}); expected only <script src>`);
if (/<style\b|\sstyle\s*=/i.test(html)) fail('src/ui/index.html has inline style; expected styles.css only');
if (/\son[a-z]+\s*=/i.test(html)) fail('src/ui/index.html has an inline event handler; expected none');
const origin = /(?:https?:)?\/\/[a-z0-9.-]+/i.exec(html.replace(/<!--[\s\S]*?-->/g, ''));
if (origin)
  fail(`src/ui/index.html refers to another origin (${origin[0]}); expected same-origin paths only`);
if (/%[A-Z_]+%/.test(html))
  fail(`src/ui/index.html has an unknown placeholder ${/%[A-Z_]+%/.exec(html)?.[0]}`);
files.set('index.html', Buffer.from(html));

// Nothing stale: names change with the content, so old builds would pile up otherwise.
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const sizes = [];
for (const [name, bytes] of [...files].sort(([a], [b]) => a.localeCompare(b))) {
  if (basename(name) !== name) fail(`esbuild wrote ${name} outside ${out}; expected flat file names`);
  const gzip = gzipSync(bytes, { level: 9 });
  const brotli = brotliCompressSync(bytes, {
    params: {
      [constants.BROTLI_PARAM_QUALITY]: constants.BROTLI_MAX_QUALITY,
      [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length,
    },
  });
  writeFileSync(join(out, name), bytes);
  writeFileSync(join(out, `${name}.gz`), gzip);
  writeFileSync(join(out, `${name}.br`), brotli);
  sizes.push(`${name} ${bytes.length} B (gzip ${gzip.length}, br ${brotli.length})`);
}
// Silent on success, as tsc is: `npm pack --json` runs this through `prepare`, and anything on
// stdout would land in its JSON. `--list` prints what was written.
if (process.argv.includes('--list')) {
  process.stdout.write(`build-ui: ${relative(root, out)}/\n  ${sizes.join('\n  ')}\n`);
}
