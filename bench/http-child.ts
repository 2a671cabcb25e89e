/**
 * Server process of the `http` benchmark, forked by `bench/http.bench.ts` (never run by hand).
 * `BENCH_HTTP_VARIANT` picks what it serves, on a free loopback port it reports over IPC:
 *
 * - `bare`: Hono on @hono/node-server, `GET /ping` answering `{"ok":true}`; no telemetry.
 * - `otel`: the same app; the parent preloads `bench/otel-register.ts` (instrumentation-http only).
 * - `register-only`: the bare app; the parent preloads `src/register.ts` (perf-sidecar's telemetry,
 *   no middleware).
 * - `sidecar`: the same app behind perf-sidecar's `performanceMiddleware` (defaults: detailed
 *   logging and the resource sampler on); the parent preloads `src/register.ts`.
 * - `sidecar-quiet`: as `sidecar`, with `enableDetailedMonitoring: false`.
 * - `summary`: perf-sidecar itself (`startSidecar`, memory-only unless `REDIS_URL` is set) after
 *   recording `BENCH_SPANS_PER_OPERATION` spans for each of `BENCH_OPERATIONS` operation names.
 *
 * The process exits when the parent goes away (IPC disconnect), so it never outlives the benchmark.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

/** Messages the child sends to the parent. */
export type ChildMessage =
  | { readonly type: 'listening'; readonly port: number; readonly httpInstrumented: boolean }
  | { readonly type: 'failed'; readonly error: string };

const variant = process.env.BENCH_HTTP_VARIANT;
const send = (message: ChildMessage) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

/** instrumentation-http wraps `Server.prototype.emit` (shimmer marks wrapped functions). */
const httpInstrumented = () => Boolean((http.Server.prototype.emit as { __wrapped?: boolean }).__wrapped);

async function pingServer(): Promise<number> {
  const app = new Hono();
  if (variant === 'sidecar' || variant === 'sidecar-quiet') {
    const { performanceMiddleware } = await import('../src/http/index.ts');
    app.use('*', performanceMiddleware({ enableDetailedMonitoring: variant === 'sidecar' }));
  } else if (variant !== 'bare' && variant !== 'otel' && variant !== 'register-only') {
    throw new Error(`unknown BENCH_HTTP_VARIANT ${JSON.stringify(variant)}`);
  }
  app.get('/ping', (c) => c.json({ ok: true }));
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
