/**
 * The sidecar process started the way users start it: `npm start` (which runs
 * `exec node --import ./dist/register.js ./dist/server.js`; `npm test` builds dist/ first).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { supportsSyncHooks } from 'import-in-the-middle/register-hooks.mjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/wait.ts';

const ROOT = resolve(import.meta.dirname, '..');

/** A sidecar started by `npm start`, with its output collected and its URL read from the log. */
interface Started {
  readonly npm: ChildProcess;
  readonly base: string;
  output(): string;
}

async function npmStart(): Promise<Started> {
  let output = '';
  const npm = spawn('npm', ['start'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      PORT: '0',
      OTLP_HTTP_PORT: '0',
      OTLP_GRPC_PORT: '0',
    },
  });
  npm.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  npm.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  const base = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1], {
    what: 'the start-up line with the URL',
    timeoutMs: 20_000,
  });
  return { npm, base, output: () => output };
}

/** Process ids of the direct children of `pid` (Linux /proc). */
function childrenOf(pid: number): number[] {
  return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
    .split(' ')
    .filter((s) => s.trim() !== '')
    .map(Number);
}

/** Whether process `pid` still exists (a zombie counts as gone: it runs no code and holds no port). */
function alive(pid: number): boolean {
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

async function portClosed(base: string): Promise<boolean> {
  try {
    await fetch(`${base}/livez`, { signal: AbortSignal.timeout(1000) });
    return false;
  } catch {
    return true;
  }
}

describe('the sidecar process (memory-only, embedded defaults)', () => {
  let child: ChildProcess;
  let output = '';
  let base = '';
  let started: Started;

  beforeAll(async () => {
    started = await npmStart();
    child = started.npm;
    base = started.base;
    output = started.output();
  });

  afterAll(() => {
    for (const pid of child.pid && alive(child.pid) ? childrenOf(child.pid) : [])
      process.kill(pid, 'SIGKILL');
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  it('says it runs in memory-only mode and lists its endpoints', () => {
    expect(output).toContain('memory-only mode');
    expect(output).toContain(`${base}/livez`);
    expect(output).toContain(`${base}/metrics`);
  });

  it('answers /livez', async () => {
    const res = await fetch(`${base}/livez`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: 'pass' });
  });

  it('serves Prometheus text on /metrics, including the HTTP server histogram', async () => {
    await fetch(`${base}/livez`);
    const res = await fetch(`${base}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    expect(text).toMatch(/^# TYPE http_server_request_duration_seconds histogram$/m);
    expect(text).toMatch(/^target_info\{.*service_name="perf-sidecar"/m);
  });

  it('answers unknown routes with 404 JSON', async () => {
    const res = await fetch(`${base}/nope?token=abc`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: 'not_found', detail: 'no route for GET /nope' });
  });

  it('exits 0 on SIGTERM after shutting down', async () => {
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGTERM'); // to npm, which passes it on to the server
    expect(await exited).toBe(0);
    expect(started.output()).toContain('perf-sidecar stopped');
  });
});

describe('npm start under a process manager', () => {
  let started: Started | undefined;
  /** Every process of the run, to be sure none outlives the test when it fails. */
  const pids: number[] = [];

  afterAll(() => {
    for (const pid of pids) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });

  it('stops the server when the process npm spawned gets SIGTERM', async () => {
    started = await npmStart();
    const npmPid = started.npm.pid ?? 0;
    const [spawned, ...others] = childrenOf(npmPid);
    expect(others).toEqual([]);
    if (spawned === undefined) throw new Error('npm spawned no process');
    pids.push(npmPid, spawned, ...childrenOf(spawned));
    const npmExited = new Promise<number | null>((done) => started?.npm.once('exit', (code) => done(code)));
    process.kill(spawned, 'SIGTERM');
    const base = started.base;
    await waitFor(() => portClosed(base), { what: `the port of ${base} to close`, timeoutMs: 15_000 });
    await waitFor(() => !alive(spawned), { what: `the process npm spawned (${spawned}) to exit` });
    expect(await npmExited).toBe(0);
    expect(started.output()).toContain('perf-sidecar stopped');
    // Why it works: npm's child is node itself (the script execs it), not a shell that would leave
    // node running on its own.
    expect(pids.length).toBe(2);
  }, 40_000);
});

describe("the preload's loader hook", () => {
  interface Probe {
    readonly threads: string[];
    readonly ioredis: boolean;
    readonly pg: boolean;
    readonly http: boolean;
  }

  /** Runs test/fixtures/loader-probe.mjs after the built preload, with `main` as the main module. */
  function probe(main: string, beforeMain: boolean): Probe {
    const fixture = './test/fixtures/loader-probe.mjs';
    const args = beforeMain
      ? ['--import', './dist/register.js', '--import', fixture, main]
      : ['--import', './dist/register.js', fixture];
    const run = spawnSync(process.execPath, args, {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', LOG_LEVEL: 'warn' },
    });
    expect(run.stderr).toBe('');
    const line = run.stdout.split('\n').find((l) => l.startsWith('{"threads"'));
    if (!line) throw new Error(`no probe line in ${run.stdout}`);
    return JSON.parse(line) as Probe;
  }

  it('runs in the main thread of the sidecar server where Node can (no loader thread), wrapping the same modules', () => {
    const server = probe('./dist/server.js', true);
    expect(server).toMatchObject({ ioredis: true, pg: true, http: true });
    // The loader thread is a V8 isolate of its own: about 25 MiB of the idle sidecar's memory.
    expect(server.threads.includes('WorkerThread')).toBe(!supportsSyncHooks());
  });

  it("keeps Node's loader thread in a host application", () => {
    const host = probe('./test/fixtures/loader-probe.mjs', false);
    expect(host).toMatchObject({ ioredis: true, pg: true, http: true });
    expect(host.threads).toContain('WorkerThread');
  });
});
