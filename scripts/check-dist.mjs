// Runs before `npm start`: the sidecar starts from the built JavaScript in dist/ (so it runs on
// every Node the package supports, including those that cannot run .ts files). `npm ci` and
// `npm install` build dist/ through the `prepare` script; this says so plainly when it is missing,
// and warns when src/ has changed since the last build (a stale dist/ would run old code).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const entries = ['dist/register.js', 'dist/server.js'];
const missing = entries.filter((file) => !existsSync(join(root, file)));
if (missing.length > 0) {
  process.stderr.write(
    `perf-sidecar: ${missing.join(' and ')} missing; expected a built package. Run \`npm run build\` (npm ci does it too).\n`,
  );
  process.exit(1);
}

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

const src = join(root, 'src');
if (existsSync(src) && newest(src) > statSync(join(root, 'dist/server.js')).mtimeMs) {
  process.stderr.write(
    'perf-sidecar: src/ changed after the last build; starting the old dist/ (run `npm run build`).\n',
  );
}
