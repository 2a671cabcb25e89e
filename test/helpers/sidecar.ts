/**
 * Sidecar processes for tests, started the way users start them: `npm start`'s command
 * (`node --import ./src/register.ts ./src/server.ts`) or a host app under
 * `node --import perf-sidecar/register`. The port is 0 (a free one) and the base URL is read from
 * the start-up log line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './child.ts';
import { stopProcess } from './redis-server.ts';
import { waitFor } from './wait.ts';

/** A running sidecar child process. */
export interface SidecarProcess {
  readonly child: ChildProcess;
  /** Base URL, e.g. http://127.0.0.1:40123. */
  readonly url: string;
  /** Everything written to stdout so far (pino JSON lines). */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM and wait for exit (SIGKILL if it has not exited within 15 s). */
  stop(): Promise<number | null>;
}

/** What to start: `server` (npm start's entry) or a fixture under test/fixtures. */
export type SidecarEntry = { readonly server: true } | { readonly fixture: string };

/** Starts a sidecar process with only `env` (plus PATH and HOME) and waits for its URL. */
export async function startSidecarProcess(
  entry: SidecarEntry,
  env: Record<string, string>,
): Promise<SidecarProcess> {
  const args =
    'server' in entry
      ? ['--import', './src/register.ts', './src/server.ts']
      : ['--import', 'perf-sidecar/register', join(ROOT, 'test/fixtures', entry.fixture)];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      HOST: '127.0.0.1',
      PORT: '0',
      OTLP_HTTP_PORT: '0',
      OTLP_GRPC_PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let url: string;
  try {
    url = await waitFor(
      () => {
        if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}: ${err}${out}`);
        return /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out)?.[1];
      },
      { what: 'the sidecar start-up line', timeoutMs: 30_000 },
    );
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    child,
    url,
    stdout: () => out,
    stderr: () => err,
    exited,
    async stop() {
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await stopProcess(child, 'SIGTERM');
      clearTimeout(timer);
      return exited;
    },
  };
}

/** GET `path` and parse JSON; returns status, headers and body. */
export async function getJson<T = unknown>(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: (text ? JSON.parse(text) : undefined) as T };
}
