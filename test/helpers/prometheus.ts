/**
 * A real Prometheus server of the test's own: Debian's `prometheus` binary on a free loopback port
 * with a temporary storage directory, stopped by its PID. Plus a small client for its HTTP API.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, stopProcess } from './redis-server.ts';
import { waitFor } from './wait.ts';

/** One series of an instant query. */
export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** Runs a command to completion (asynchronously) and returns its exit code and output. */
export function run(
  command: string,
  args: readonly string[],
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(
      command,
      [...args],
      { cwd: options.cwd, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
        done({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}

/** Runs `promtool check metrics` with `text` on stdin: its exit code and everything it printed. */
export function promtoolCheckMetrics(text: string): Promise<{ code: number | null; output: string }> {
  return new Promise((done, fail) => {
    const child = spawn('promtool', ['check', 'metrics'], { timeout: 30_000 });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('error', fail);
    child.on('close', (code) => done({ code, output }));
    child.stdin.end(text);
  });
}

/** A running Prometheus. */
export class OwnPrometheus {
  readonly url: string;
  readonly #process: ChildProcess;
  readonly #dir: string;
  #log = '';

  private constructor(url: string, child: ChildProcess, dir: string) {
    this.url = url;
    this.#process = child;
    this.#dir = dir;
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      // Bounded: the last 64 kB are enough to explain a failure.
      this.#log = (this.#log + chunk).slice(-65_536);
    });
  }

  /** Starts `prometheus` with `configFile` and waits until /-/ready answers. */
  static async start(configFile: string): Promise<OwnPrometheus> {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-prometheus-'));
    const child = spawn(
      'prometheus',
      [
        `--config.file=${configFile}`,
        `--storage.tsdb.path=${join(dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--storage.tsdb.retention.time=1h',
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const server = new OwnPrometheus(`http://127.0.0.1:${port}`, child, dir);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${server.log}`);
        return (await fetch(`${server.url}/-/ready`)).ok;
      },
      { what: 'Prometheus to be ready', timeoutMs: 30_000, intervalMs: 100 },
    );
    return server;
  }

  /** What Prometheus wrote to stderr (the last 64 kB). */
  get log(): string {
    return this.#log;
  }

  /** Runs an instant query; throws on a query error (bad PromQL). */
  async query(expr: string, time?: number): Promise<PromSample[]> {
    const body = new URLSearchParams({ query: expr });
    if (time !== undefined) body.set('time', String(time));
    const res = await fetch(`${this.url}/api/v1/query`, { method: 'POST', body });
    const json = (await res.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: PromSample[] };
    };
    if (json.status !== 'success') throw new Error(`query failed (${json.error}): ${expr}`);
    if (json.data?.resultType !== 'vector')
      throw new Error(`expected a vector, got ${json.data?.resultType}`);
    return json.data.result;
  }

  /** Values of `label` on the series matching `match`. */
  async labelValues(label: string, match: string): Promise<string[]> {
    const res = await fetch(
      `${this.url}/api/v1/label/${encodeURIComponent(label)}/values?${new URLSearchParams({ 'match[]': match })}`,
    );
    const json = (await res.json()) as { status: string; data?: string[] };
    if (json.status !== 'success') throw new Error(`label values of ${label} failed`);
    return json.data ?? [];
  }

  /** Stops the server by its PID and removes its storage. */
  async stop(): Promise<void> {
    await stopProcess(this.#process, 'SIGTERM');
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
