/**
 * The traces path of the stack: spans leave over OTLP/HTTP protobuf (what the compose file
 * configures) and reach a receiver that decodes them with the OTLP protobuf definitions, carrying
 * service.name, the operation spans with perf.target_seconds, and pg / ioredis child spans under
 * them. Proven twice: with a host application under `node --import perf-sidecar/register`, and with
 * the demo workload on its embedded defaults (memory-only, embedded PGlite).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppRun, runFixture } from '../helpers/child.ts';
import { DemoProcess } from '../helpers/demo.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/env.ts';
import { OtlpProtoReceiver, type ProtoSpan } from '../helpers/otlp-proto-receiver.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

type SpanContexts = Record<'document_ocr' | 'validation', { traceId: string; spanId: string }>;

const PG_SCOPE = '@opentelemetry/instrumentation-pg';
const REDIS_SCOPE = '@opentelemetry/instrumentation-ioredis';

function childrenOf(spans: readonly ProtoSpan[], parent: { spanId: string; traceId: string }): ProtoSpan[] {
  return spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
}

describe('OTLP/HTTP protobuf export from a host application', () => {
  let receiver: OtlpProtoReceiver;
  let run: AppRun<SpanContexts>;
  const prefix = `perf-test:${randomUUID()}:`;

  beforeAll(async () => {
    receiver = await OtlpProtoReceiver.start();
    run = await runFixture<SpanContexts>('stack-traces-app.mjs', {
      DATABASE_URL: TEST_DATABASE_URL,
      APP_REDIS_URL: TEST_REDIS_URL,
      REDIS_URL: TEST_REDIS_URL,
      ALERT_KEY_PREFIX: prefix,
      OTEL_SERVICE_NAME: 'stack-traces-app',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      LOG_LEVEL: 'warn',
    });
  }, 90_000);

  afterAll(async () => {
    const redis = new Redis(TEST_REDIS_URL);
    await deleteKeys(redis, prefix);
    redis.disconnect();
    await receiver.close();
  });

  it('runs the app and sends protobuf, every request decoded', () => {
    expect(run.status, run.stderr).toBe(0);
    expect(receiver.contentTypes.length).toBeGreaterThan(0);
    expect(new Set(receiver.contentTypes)).toEqual(new Set(['application/x-protobuf']));
    expect(receiver.rejected).toEqual([]);
  });

  it('carries service.name on the resource', () => {
    expect(receiver.spans.length).toBeGreaterThan(4);
    for (const span of receiver.spans) expect(span.resource['service.name']).toBe('stack-traces-app');
  });

  it('carries the operation spans with their targets and the breach verdict', () => {
    const ocr = receiver.spans.find((s) => s.spanId === run.out?.document_ocr.spanId);
    expect(ocr?.name).toBe('document_ocr');
    expect(ocr?.attributes['perf.target_seconds']).toBe(120);
    expect(ocr?.attributes['perf.target_exceeded']).toBe(false);
    expect(ocr?.attributes['correlation.id']).toBe('trace-1');
    const validation = receiver.spans.find((s) => s.spanId === run.out?.validation.spanId);
    expect(validation?.attributes['perf.target_seconds']).toBe(0.000001);
    expect(validation?.attributes['perf.target_exceeded']).toBe(true);
  });

  it('nests the pg and ioredis spans under each operation span', () => {
    for (const name of ['document_ocr', 'validation'] as const) {
      const children = childrenOf(receiver.spans, run.out?.[name] ?? { spanId: '-', traceId: '-' });
      const pgQueries = children.filter(
        (s) => s.scope === PG_SCOPE && s.attributes['db.query.text'] !== undefined,
      );
      const redisCommands = children.filter((s) => s.scope === REDIS_SCOPE);
      expect(pgQueries, name).toHaveLength(1);
      expect(pgQueries[0]?.attributes['db.system.name']).toBe('postgresql');
      expect(
        redisCommands.map((s) => s.name),
        name,
      ).toEqual([name === 'document_ocr' ? 'set' : 'get']);
    }
  });
});

describe('OTLP/HTTP protobuf export from the demo on its embedded defaults', () => {
  let receiver: OtlpProtoReceiver;
  let demo: DemoProcess;
  let exitCode: number | null;
  const speed = 200;

  beforeAll(async () => {
    receiver = await OtlpProtoReceiver.start();
    // No REDIS_URL and no DATABASE_URL: memory-only alerts and cache, the embedded PGlite.
    demo = DemoProcess.start(['--count', '40', '--speed', String(speed), '--port', '0', '--seed', '3'], {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    });
    exitCode = await demo.exited;
    await waitFor(() => receiver.spans.some((s) => s.name === 'document_ocr'), {
      what: 'the demo spans',
      timeoutMs: 10_000,
    });
  }, 120_000);

  afterAll(async () => {
    await receiver.close();
  });

  it('runs to completion and says where to look', () => {
    expect(exitCode, demo.output).toBe(0);
    const out = demo.output;
    expect(out).toContain('embedded PGlite (DATABASE_URL unset)');
    expect(out).toContain('memory only (REDIS_URL unset)');
    expect(out).toContain('40 operations in');
    expect(out).toMatch(/summary: {2}http:\/\/127\.0\.0\.1:\d+\/api\/system\/performance/);
    expect(out).toMatch(/metrics: {2}http:\/\/127\.0\.0\.1:\d+\/metrics/);
    expect(out).toContain('performance_alerts, memory_alerts');
    expect(out).toContain('demo finished');
  });

  it('exports every demo operation with its scaled target', () => {
    const targets: Record<string, number> = {
      ai_layout_generation: 30 / speed,
      document_ocr: 120 / speed,
      validation: 5 / speed,
      simple_query: 2 / speed,
    };
    for (const [name, target] of Object.entries(targets)) {
      const spans = receiver.spans.filter((s) => s.name === name);
      expect(spans.length, name).toBeGreaterThan(0);
      for (const span of spans) expect(span.attributes['perf.target_seconds'], name).toBe(target);
    }
    expect(receiver.rejected).toEqual([]);
  });

  it('instruments the HTTP server it started (http is loaded only after the preload hooks)', () => {
    const server = receiver.spans.filter(
      (s) => s.scope === '@opentelemetry/instrumentation-http' && s.kind === 2,
    );
    expect(server.length).toBeGreaterThan(0);
    expect(server.map((s) => s.attributes['http.route'])).toContain('/livez');
  });

  it('nests the database service spans and their pg spans under the operations', () => {
    const queries = receiver.spans.filter((s) => s.name === 'simple_query');
    const nested = queries.map((op) => {
      const [service] = childrenOf(receiver.spans, op).filter((s) => s.name.startsWith('query '));
      const pgSpans = service ? childrenOf(receiver.spans, service).filter((s) => s.scope === PG_SCOPE) : [];
      return { service: service?.attributes['db.system.name'], pg: pgSpans.length > 0 };
    });
    expect(nested.length).toBeGreaterThan(0);
    for (const n of nested) expect(n).toEqual({ service: 'postgresql', pg: true });
  });
});
