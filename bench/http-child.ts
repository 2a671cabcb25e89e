/**
 * Server process of the `http` benchmark, forked by `bench/http.bench.ts` (never run by hand).
 * `BENCH_HTTP_VARIANT` picks what it serves, on a free loopback port it reports over IPC; every
 * variant is the same Hono app on @hono/node-server with the same routes (`GET /ping` answering
 * `{"ok":true}`, and `GET /check`, which says whether a server span is active and its name):
 *
 * - `bare`: no telemetry, no middleware.
 * - `noop-middleware`: `app.use(async (c, next) => { await next(); })` and nothing else: what any
 *   middleware costs in Hono (its composition path), the floor of a middleware-based option; the
 *   parent preloads nothing, or `bench/otel-register.ts` (instrumentation-http with a middleware).
 * - `otel`: no middleware; the parent preloads `bench/otel-register.ts` (instrumentation-http only).
 * - `register-only`: no middleware; the parent preloads `src/register.ts` (perf-sidecar's
 *   telemetry).
 * - `sidecar`: perf-sidecar's `performanceMiddleware` with its defaults (request lines for slow and
 *   failed requests, the resource sampler on); the parent preloads `src/register.ts`, and sets
 *   `PERF_HTTP_SERVER_SPANS=middleware` for the Hono-native option.
 * - `summary`: perf-sidecar itself (`startSidecar`, memory-only unless `REDIS_URL` is set) after
 *   recording `BENCH_SPANS_PER_OPERATION` spans for each of `BENCH_OPERATIONS` operation names.
 *
 * The process exits when the parent goes away (IPC disconnect), so it never outlives the benchmark.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { trace } from '@opentelemetry/api';
import { Hono } from 'hono';

/** Messages the child sends to the parent. */
export type ChildMessage =
  | { readonly type: 'listening'; readonly port: number; readonly httpInstrumented: boolean }
  | { readonly type: 'failed'; readonly error: string }
  | { readonly type: 'recorded'; readonly requests: number | null }
  | { readonly type: 'cpu'; readonly micros: number };

/** What `GET /check` answers. */
export interface CheckBody {
  /** Whether a recording span is active in the handler (the request's server span). */
  readonly recording: boolean;
  /** Its kind (`SpanKind`: 1 is SERVER), `null` without a span. */
  readonly kind: number | null;
}

const variant = process.env.BENCH_HTTP_VARIANT;
const send = (message: ChildMessage) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

/** instrumentation-http wraps `Server.prototype.emit` (shimmer marks wrapped functions). */
const httpInstrumented = () => Boolean((http.Server.prototype.emit as { __wrapped?: boolean }).__wrapped);

async function pingServer(): Promise<number> {
  const app = new Hono();
  if (variant === 'sidecar') {
    const { performanceMiddleware } = await import('../src/http/index.ts');
    app.use('*', performanceMiddleware());
  } else if (variant === 'noop-middleware') {
    app.use('*', async (_c, next) => {
      await next();
    });
  } else if (variant !== 'bare' && variant !== 'otel' && variant !== 'register-only') {
    throw new Error(`unknown BENCH_HTTP_VARIANT ${JSON.stringify(variant)}`);
  }
  app.get('/ping', (c) => c.json({ ok: true }));
  app.get('/check', (c) => {
    const span = trace.getActiveSpan() as
      | (ReturnType<typeof trace.getActiveSpan> & { kind?: number })
      | undefined;
    const body: CheckBody = { recording: span?.isRecording() ?? false, kind: span?.kind ?? null };
    return c.json(body);
  });
  // CPU time used so far (user + system, µs): per request, it holds still on a machine shared with
  // other work, where requests per second swing.
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'cpu') return;
    const { user, system } = process.cpuUsage();
    send({ type: 'cpu', micros: user + system });
  });
  if (variant !== 'bare' && variant !== 'otel' && variant !== 'noop-middleware') {
    // The parent asks, after its checks, how many requests the HTTP duration histogram recorded.
    const { getTelemetry } = await import('../src/telemetry/index.ts');
    process.on('message', (message: { type?: string }) => {
      if (message.type !== 'recorded') return;
      void getTelemetry()
        .renderPrometheus()
        .then((text) => {
          const counts = [...text.matchAll(/^http_server_request_duration_seconds_count\{[^}]*\} (\d+)/gm)];
          send({ type: 'recorded', requests: counts.reduce((n, m) => n + Number(m[1]), 0) });
        });
    });
  }
  return new Promise((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 });
    server.once('listening', () => resolve((server.address() as AddressInfo).port));
    server.once('error', reject);
  });
}

async function summaryServer(): Promise<number> {
  const { startSidecar } = await import('../src/http/index.ts');
  const { trackOperation } = await import('../src/telemetry/index.ts');
  const sidecar = await startSidecar({ host: '127.0.0.1', port: 0, database: false });
  process.once('SIGTERM', () => {
    // Graceful: with Redis this flushes the rollups, which the parent then deletes.
    void sidecar.close(4000).then(() => process.exit(0));
  });
  const operations = Number(process.env.BENCH_OPERATIONS ?? 1000);
  const spans = Number(process.env.BENCH_SPANS_PER_OPERATION ?? 10);
  for (let i = 0; i < operations; i++) {
    const name = `bench_op_${String(i).padStart(4, '0')}`;
    // A target: only spans carrying perf.target_seconds are recorded in the operation histogram
    // (and so in the summary); untargeted operations are traced but never summarised.
    for (let j = 0; j < spans; j++) trackOperation(name, { targetSeconds: 1 }, () => j);
  }
  // With Redis, wait for the connection so that the rollup write below reaches it.
  for (let tries = 0; !sidecar.telemetry.memoryOnly; tries++) {
    try {
      await sidecar.telemetry.pingRedis?.();
      break;
    } catch (error) {
      if (tries >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  // Into the minute windows now, and (with Redis) written as rollups, so that reports read them.
  await sidecar.telemetry.windows.collect();
  await sidecar.telemetry.windows.flush();
  return sidecar.port;
}

try {
  const port = variant === 'summary' ? await summaryServer() : await pingServer();
  send({ type: 'listening', port, httpInstrumented: httpInstrumented() });
} catch (error) {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
