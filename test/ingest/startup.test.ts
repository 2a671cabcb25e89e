/**
 * How the sidecar process (`npm start`'s command) starts with respect to its OTLP receivers: on by
 * default and named in the start-up line, off with PERF_INGEST=false, and not started at all with a
 * rules file it cannot use (exit 1, one message naming the file, the place and what was expected).
 */

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.ts';
import { getJson, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';

const dir = mkdtempSync(join(tmpdir(), 'perf-startup-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('perf-sidecar/http without receivers', () => {
  it('loads neither protobufjs nor @grpc/grpc-js at start, protobufjs with the first request and grpc-js with the first gRPC connection', async () => {
    // A module hook that lists the two packages as they load; the app imports the http entry and
    // starts a sidecar without receivers, then with them, sends them one (empty) OTLP/HTTP request,
    // then connects to the gRPC port.
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = new Set();
      registerHooks({ load(url, context, next) {
        const m = /node_modules\\/(protobufjs|@grpc\\/grpc-js)\\//.exec(url);
        if (m) loaded.add(m[1]);
        return next(url, context);
      } });
      const { startSidecar } = await import('./src/http/index.ts');
      const plain = await startSidecar({ port: 0 });
      const before = [...loaded].sort();
      await plain.close(2000);
      const { stopTelemetry } = await import('./src/index.ts');
      await stopTelemetry();
      const receiving = await startSidecar({ port: 0, ingest: true });
      const after = [...loaded].sort();
      const res = await fetch(receiving.ingest.httpUrl + '/v1/traces', {
        method: 'POST',
        headers: { 'content-type': 'application/x-protobuf' },
        body: new Uint8Array(0),
      });
      await res.arrayBuffer();
      const afterRequest = [...loaded].sort();
      const { connect } = await import('node:net');
      const address = receiving.ingest.grpcAddress;
      const socket = connect(Number(address.slice(address.lastIndexOf(':') + 1)), '127.0.0.1');
      for (let i = 0; i < 200 && !loaded.has('@grpc/grpc-js'); i++) await new Promise((r) => setTimeout(r, 25));
      const afterConnection = [...loaded].sort();
      socket.destroy();
      await receiving.close(2000);
      process.stdout.write(JSON.stringify({ before, after, status: res.status, afterRequest, afterConnection }));
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'silent',
        OTLP_HTTP_PORT: '0',
        OTLP_GRPC_PORT: '0',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect(code, err).toBe(0);
    expect(JSON.parse(out)).toEqual({
      before: [],
      after: [],
      status: 200,
      afterRequest: ['protobufjs'],
      afterConnection: ['@grpc/grpc-js', 'protobufjs'],
    });
  }, 60_000);
});

describe('the sidecar process and its OTLP receivers', () => {
  it('starts them by default and names their URLs in the start-up line', async () => {
    const sidecar = await startSidecarProcess({ server: true }, {});
    try {
      const line =
        sidecar
          .stdout()
          .split('\n')
          .find((l) => l.includes('perf-sidecar listening')) ?? '{}';
      const { endpoints } = JSON.parse(line) as { endpoints: Record<string, string> };
      expect(endpoints.otlpHttp).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/traces$/);
      expect(endpoints.otlpGrpc).toMatch(/^grpc:\/\/127\.0\.0\.1:\d+$/);
      const res = await fetch(endpoints.otlpHttp ?? '', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"resourceSpans":[]}',
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    } finally {
      await sidecar.stop();
    }
  });

  it("leaves the receiver's requests out of its own traces and report, which keeps its API requests", async () => {
    const sidecar = await startSidecarProcess({ server: true }, {});
    try {
      const line = sidecar
        .stdout()
        .split('\n')
        .find((l) => l.includes('perf-sidecar listening'));
      const { endpoints } = JSON.parse(line ?? '{}') as { endpoints: Record<string, string> };
      for (let i = 0; i < 3; i++) {
        const res = await fetch(endpoints.otlpHttp ?? '', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: '{"resourceSpans":[]}',
        });
        expect(res.status).toBe(200);
      }
      // The report's own requests show once one of them has finished: by then the receiver's
      // requests, all answered before, would have been recorded too.
      const report = await waitFor(
        async () => {
          const { status, body } = await getJson<{ http: Record<string, { count: number }> }>(
            sidecar.url,
            '/api/system/performance?hours=1',
          );
          expect(status).toBe(200);
          return Object.keys(body.http).some((k) => k.startsWith('GET /api/system/performance'))
            ? body
            : undefined;
        },
        { what: "the sidecar's own API requests in its report" },
      );
      expect(Object.keys(report.http).filter((k) => k.startsWith('POST'))).toEqual([]);
    } finally {
      await sidecar.stop();
    }
  });

  it('starts none with PERF_INGEST=false', async () => {
    const sidecar = await startSidecarProcess({ server: true }, { PERF_INGEST: 'false' });
    try {
      expect(sidecar.stdout()).not.toContain('otlpHttp');
      expect(sidecar.stdout()).not.toContain('OTLP receivers listening');
    } finally {
      await sidecar.stop();
    }
  });

  it('does not start with a rules file it cannot use, and says why in one message', async () => {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, 'rules:\n  - match: { http.route: /a }\n    target_seconds: -1\n');
    const child = spawn(process.execPath, ['--import', './src/register.ts', './src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', PERF_RULES_FILE: file },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    expect(code).toBe(1);
    expect(err.trim()).toBe(
      `${file}: rules[0].target_seconds: is -1; expected a number of seconds greater than 0, at most 86400`,
    );
  });
});
