/**
 * Runs a fixture app the way users run one: `node --import perf-sidecar/register <fixture>` (the
 * built package, resolved by its own name), with only the environment given.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/** The project root. */
export const ROOT = resolve(import.meta.dirname, '../..');

/** What a fixture run left behind. */
export interface AppRun<T> {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** What the fixture wrote to FIXTURE_OUT, parsed; `undefined` when it wrote nothing. */
  readonly out: T | undefined;
}

/**
 * Runs `test/fixtures/<fixture>` asynchronously (an OTLP receiver in this process must keep
 * answering) and waits for it to exit. The fixture writes its findings as JSON to FIXTURE_OUT.
 */
export async function runFixture<T>(
  fixture: string,
  env: Record<string, string>,
  args: string[] = [],
): Promise<AppRun<T>> {
  const outFile = join(mkdtempSync(join(tmpdir(), 'perf-sidecar-app-')), 'out.json');
  const child = spawn(
    process.execPath,
    ['--import', 'perf-sidecar/register', join(ROOT, 'test/fixtures', fixture), ...args],
    {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', FIXTURE_OUT: outFile, ...env },
      timeout: 60_000,
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const status = await new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  let out: T | undefined;
  try {
    out = JSON.parse(readFileSync(outFile, 'utf8')) as T;
  } catch {
    out = undefined;
  }
  return { status, stdout, stderr, out };
}
