/**
 * The sidecar process started as `npm start` starts it: node --import ./src/register.ts ./src/server.ts
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from './helpers/wait.ts';

const ROOT = resolve(import.meta.dirname, '..');

describe('the sidecar process (memory-only, embedded defaults)', () => {
  let child: ChildProcess;
  let output = '';
  let base = '';

  beforeAll(async () => {
    child = spawn(process.execPath, ['--import', './src/register.ts', './src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0' },
    });
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    base = await waitFor(() => /"url":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(output)?.[1], {
      what: 'the start-up line with the URL',
      timeoutMs: 20_000,
    });
  });

  afterAll(() => {
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
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('perf-sidecar stopped');
  });
});
