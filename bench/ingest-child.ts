/**
 * Server process of the `ingest` benchmark, forked by `bench/ingest.bench.ts` (never run by hand).
 * `BENCH_INGEST_VARIANT` picks what it serves on a free loopback port, reported over IPC:
 *
 * - `sidecar`: perf-sidecar itself, `startSidecar({ ingest: true, port: 0 })`, configured by the
 *   environment the parent gives (`OTLP_HTTP_PORT=0`, `OTLP_GRPC_PORT=0`, `REDIS_URL` or none).
 *   The parent preloads `src/register.ts`, as `npm start` does, so the process is the sidecar
 *   process as deployed (its own telemetry and instrumentations included).
 * - `bare`: the baseline, a bare node:http server that reads the body of any POST, decodes it with
 *   protobufjs (`otlpTypes().traceRequest.decode`, the same types the receiver uses) and answers 200
 *   with an empty `application/x-protobuf` body (what the receiver answers when nothing was
 *   rejected). No telemetry.
 *
 * The parent asks for figures with a `{ type: 'stats' }` message; the child answers with its RSS,
 * heap and the spans it has finished with (evaluated, for the sidecar; decoded, for the baseline).
 * The process exits when the parent goes away (IPC disconnect), so it never outlives the benchmark.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import { otlpTypes } from '../src/ingest/proto.ts';

/** What the child reports once it listens. */
export interface ChildReady {
  readonly type: 'listening';
  /** Base URL of the OTLP/HTTP endpoint (POST `${otlpUrl}/v1/traces`). */
  readonly otlpUrl: string;
  /** Whether instrumentation-http is active in the process (it would trace the receiver too). */
  readonly httpInstrumented: boolean;
}

/** The child's figures, answered to a `stats` request. */
export interface ChildStats {
  readonly type: 'stats';
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Memory V8 has reserved for its heap (all spaces), used or not. */
  readonly heapTotalBytes: number;
  /** Of {@link heapTotalBytes}: the young generation (new space), which V8 grows under a high allocation rate. */
  readonly newSpaceBytes: number;
  /** Memory of array buffers and other objects outside the V8 heap (request bodies, sockets). */
  readonly externalBytes: number;
  /** Spans finished with: evaluated (sidecar) or decoded (baseline). */
  readonly spansDone: number;
  /** Spans accepted and not yet evaluated (0 for the baseline). */
  readonly queuedSpans: number;
  /** Requests refused as a whole, by reason (sidecar only). */
  readonly refused: Readonly<Record<string, number>>;
}

/** Messages the child sends to the parent. */
export type ChildMessage = ChildReady | ChildStats | { readonly type: 'failed'; readonly error: string };

const variant = process.env.BENCH_INGEST_VARIANT;
const send = (message: ChildMessage) => process.send?.(message);
process.on('disconnect', () => process.exit(0));

/** instrumentation-http wraps `Server.prototype.emit` (shimmer marks wrapped functions). */
const httpInstrumented = () => Boolean((http.Server.prototype.emit as { __wrapped?: boolean }).__wrapped);

type Stats = () => Pick<ChildStats, 'spansDone' | 'queuedSpans' | 'refused'>;

async function sidecarServer(): Promise<{ otlpUrl: string; stats: Stats }> {
  const { startSidecar } = await import('../src/http/index.ts');
  const sidecar = await startSidecar({ host: '127.0.0.1', port: 0, database: false, ingest: true });
  const ingest = sidecar.ingest;
  if (!ingest) throw new Error('startSidecar({ ingest: true }) started no receivers');
  process.once('SIGTERM', () => {
    // Graceful: evaluates what was accepted and flushes alerts before exiting.
    void sidecar.close(4000).then(() => process.exit(0));
  });
  // With Redis, report ready only once connected: the first alert must not wait for the connection.
  for (let tries = 0; !sidecar.telemetry.memoryOnly; tries++) {
    try {
      await sidecar.telemetry.pingRedis?.();
      break;
    } catch (error) {
      if (tries >= 50) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    otlpUrl: ingest.httpUrl,
    stats: () => {
      const { spans, queue, refused } = ingest.stats().receivers;
      const nonZero = Object.fromEntries(Object.entries(refused).filter(([, n]) => n > 0));
      return { spansDone: spans.processed, queuedSpans: queue.spans, refused: nonZero };
    },
  };
}

/** The parts of a decoded trace request the baseline counts spans in. */
interface TraceRequestMessage {
  resourceSpans?: { scopeSpans?: { spans?: unknown[] | null }[] | null }[] | null;
}

async function bareServer(): Promise<{ otlpUrl: string; stats: Stats }> {
  const type = otlpTypes().traceRequest;
  let spans = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.once('end', () => {
      const message = type.decode(Buffer.concat(chunks)) as TraceRequestMessage;
      // Counting is a few array reads per request: the figure the parent divides by time.
      for (const rs of message.resourceSpans ?? []) {
        for (const ss of rs.scopeSpans ?? []) spans += ss.spans?.length ?? 0;
      }
      res.writeHead(200, { 'Content-Type': 'application/x-protobuf', 'Content-Length': '0' });
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    otlpUrl: `http://127.0.0.1:${port}`,
    stats: () => ({ spansDone: spans, queuedSpans: 0, refused: {} }),
  };
}

try {
  if (variant !== 'sidecar' && variant !== 'bare') {
    throw new Error(`unknown BENCH_INGEST_VARIANT ${JSON.stringify(variant)}`);
  }
  const server = variant === 'sidecar' ? await sidecarServer() : await bareServer();
  process.on('message', (message: { type?: string }) => {
    if (message.type !== 'stats') return;
    const memory = process.memoryUsage();
    const newSpace = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    send({
      type: 'stats',
      rssBytes: memory.rss,
      heapUsedBytes: memory.heapUsed,
      heapTotalBytes: memory.heapTotal,
      newSpaceBytes: newSpace?.space_size ?? 0,
      externalBytes: memory.external,
      ...server.stats(),
    });
  });
  send({ type: 'listening', otlpUrl: server.otlpUrl, httpInstrumented: httpInstrumented() });
} catch (error) {
  send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exit(1);
}
