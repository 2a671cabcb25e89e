/**
 * Compiles a fixture with the project's TypeScript (for syntax vitest's transformer lacks, such as
 * standard decorators) and imports the result.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const require = createRequire(import.meta.url);

/** Compiles `test/fixtures/<name>` (a self-contained file) to a temporary directory and imports it. */
export async function compileFixture<T>(name: string): Promise<T> {
  const outDir = mkdtempSync(join(tmpdir(), 'perf-sidecar-fixture-'));
  const source = resolve(import.meta.dirname, '../fixtures', name);
  const tsc = join(require.resolve('typescript/package.json'), '..', 'bin', 'tsc');
  execFileSync(
    process.execPath,
    [
      tsc,
      source,
      '--ignoreConfig',
      '--outDir',
      outDir,
      '--target',
      'es2022',
      '--module',
      'nodenext',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
    ],
    { stdio: 'pipe' },
  );
  return import(pathToFileURL(join(outDir, name.replace(/\.ts$/, '.js'))).href) as Promise<T>;
}
