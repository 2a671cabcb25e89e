/**
 * The receivers against the official OpenTelemetry exporters, driven by an SDK tracer provider (and
 * meter provider) in this process: OTLP/HTTP protobuf, OTLP/HTTP JSON and OTLP/gRPC, plain and
 * gzip. What the evaluation callback receives must be what the SDK recorded.
 */
import { Metadata } from '@grpc/grpc-js';
import { type Attributes, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter as GrpcMetricExporter } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter as ProtoMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter as GrpcTraceExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanExporter,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../src/ingest/proto.ts';
import type { ReceivedSpan } from '../../src/ingest/types.ts';
import { waitFor } from '../helpers/wait.ts';
import { startTestReceivers, type TestReceivers } from './helpers.ts';

const TOKEN = 'test-token-0123456789abcdef';

type Transport = 'http/protobuf' | 'http/json' | 'grpc';

function traceExporter(
  t: TestReceivers,
  transport: Transport,
  options: { token?: string; gzip?: boolean } = {},
): SpanExporter {
  const { receivers } = t;
  const compression = options.gzip ? ('gzip' as never) : undefined;
  const headers: Record<string, string> = options.token ? { Authorization: `Bearer ${options.token}` } : {};
  if (transport === 'grpc') {
    const metadata = new Metadata();
    if (options.token) metadata.set('authorization', `Bearer ${options.token}`);
    return new GrpcTraceExporter({ url: `http://${receivers.grpcAddress}`, metadata, compression });
  }
  const Exporter = transport === 'http/json' ? JsonTraceExporter : ProtoTraceExporter;
  return new Exporter({ url: `${receivers.httpUrl}/v1/traces`, headers, compression });
}

/** Records the spans of `work` in memory, to export them by hand and see the export result. */
async function recorded(work: (provider: TracerProvider) => void): Promise<ReadableSpan[]> {
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'recorded' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  work(provider);
  await provider.forceFlush();
  const finished = memory.getFinishedSpans();
  await provider.shutdown();
  return finished;
}

function exportWith(exporter: SpanExporter, spans: ReadableSpan[]): Promise<{ code: number; error?: Error }> {
  return new Promise((resolve) => exporter.export(spans, resolve));
}

const ATTRIBUTES: Attributes = {
  'http.route': '/orders/:id',
  'perf.target_seconds': 0.25,
  retries: 3,
  cached: false,
  tags: ['a', 'b'],
  sizes: [1, 2, 3],
};

describe.each<Transport>(['http/protobuf', 'http/json', 'grpc'])('official %s exporter', (transport) => {
  let t: TestReceivers;

  beforeAll(async () => {
    t = await startTestReceivers();
  });
  afterAll(async () => {
    await t.receivers.close();
  });

  it('delivers spans with their service, ids, kind, attributes, duration and error status', async () => {
    const service = `svc-${transport}`;
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': service }),
      spanProcessors: [new SimpleSpanProcessor({ exporter: traceExporter(t, transport) })],
    });
    const tracer = provider.getTracer('exporters-test');
    const start = Date.now() - 5000;
    const server = tracer.startSpan('GET /orders/:id', {
      kind: SpanKind.SERVER,
      attributes: ATTRIBUTES,
      startTime: start,
    });
    server.end(start + 1234);
    const failed = tracer.startSpan('charge card', { kind: SpanKind.CLIENT, startTime: start });
    failed.setStatus({ code: SpanStatusCode.ERROR, message: 'declined' });
    failed.end(start + 20);
    const internal = tracer.startSpan('compute', { startTime: start });
    internal.end(start + 1);
    await provider.forceFlush();
    await provider.shutdown();

    const all = await waitFor(() => {
      const views = t.batches.flatMap((b) => b.spans).filter((s) => s.view.service === service);
      return views.length === 3 ? views : undefined;
    });
    const byName = (name: string) => all.find((s) => s.view.name === name) as ReceivedSpan;

    const got = byName('GET /orders/:id').view;
    expect(got.kind).toBe(SpanKind.SERVER);
    expect(got.traceId).toBe(server.spanContext().traceId);
    expect(got.spanId).toBe(server.spanContext().spanId);
    expect(got.traceFlags).toBe(1);
    expect(got.durationSeconds).toBeCloseTo(1.234, 9);
    expect(got.error).toBe(false);
    expect({ ...got.attributes }).toEqual(ATTRIBUTES);

    const charge = byName('charge card').view;
    expect(charge.kind).toBe(SpanKind.CLIENT);
    expect(charge.error).toBe(true);
    expect(charge.durationSeconds).toBeCloseTo(0.02, 9);
    expect(charge.traceId).toBe(failed.spanContext().traceId);

    expect(byName('compute').view.kind).toBe(SpanKind.INTERNAL);
    // The message kept for forwarding is the decoded span itself, attributes included.
    expect(byName('GET /orders/:id').message.attributes.map((a) => a.key)).toEqual(Object.keys(ATTRIBUTES));
  });

  it('delivers gzip-compressed exports', async () => {
    const spans = await recorded((p) => {
      const span = p.getTracer('gzip').startSpan('zipped', { attributes: { filler: 'x'.repeat(4000) } });
      span.end();
    });
    const before = t.receivers.stats().http;
    const result = await exportWith(traceExporter(t, transport, { gzip: true }), spans);
    expect(result.error).toBeUndefined();
    expect(result.code).toBe(ExportResultCode.SUCCESS);
    const zipped = await waitFor(() =>
      t.batches.flatMap((b) => b.spans).find((s) => s.view.name === 'zipped'),
    );
    expect(zipped.view.attributes.filler).toBe('x'.repeat(4000));
    if (transport !== 'grpc') {
      // It did come compressed: far fewer bytes on the wire than after decompression.
      const after = t.receivers.stats().http;
      expect(after.wireBytes - before.wireBytes).toBeLessThan((after.bodyBytes - before.bodyBytes) / 2);
    }
  });

  it('delivers a BatchSpanProcessor batch as one request', async () => {
    const before = t.batches.length;
    const provider = new TracerProvider({
      resource: resourceFromAttributes({ 'service.name': `batch-${transport}` }),
      spanProcessors: [
        new BatchSpanProcessor({ exporter: traceExporter(t, transport), scheduledDelayMillis: 60_000 }),
      ],
    });
    for (let i = 0; i < 50; i++) provider.getTracer('batch').startSpan(`op-${i}`).end();
    await provider.forceFlush();
    await provider.shutdown();
    const batch = await waitFor(() =>
      t.batches.slice(before).find((b) => b.spans[0]?.view.service === `batch-${transport}`),
    );
    expect(batch.spans.map((s) => s.view.name)).toEqual(Array.from({ length: 50 }, (_, i) => `op-${i}`));
  });
});

describe.each<Transport>(['http/protobuf', 'http/json', 'grpc'])(
  'official %s exporter with a token',
  (transport) => {
    let t: TestReceivers;
    let spans: ReadableSpan[];

    beforeAll(async () => {
      t = await startTestReceivers({ token: TOKEN });
      spans = await recorded((p) => p.getTracer('auth').startSpan('guarded').end());
    });
    afterAll(async () => {
      await t.receivers.close();
    });

    it('is accepted with the right bearer token', async () => {
      const result = await exportWith(traceExporter(t, transport, { token: TOKEN }), spans);
      expect(result.code).toBe(ExportResultCode.SUCCESS);
      await waitFor(() => t.spanCount() === 1);
    });

    it('is refused with a wrong or missing token, and nothing reaches evaluation', async () => {
      const before = t.receivers.stats().refused.unauthorized;
      const evaluated = t.spanCount();
      for (const token of [`${TOKEN}x`, undefined]) {
        const result = await exportWith(traceExporter(t, transport, token ? { token } : {}), spans);
        expect(result.code).toBe(ExportResultCode.FAILED);
        expect(String(result.error?.message)).toMatch(
          transport === 'grpc' ? /UNAUTHENTICATED|bearer token/ : /401|Unauthorized/,
        );
        expect(String(result.error?.message)).not.toContain(TOKEN);
      }
      expect(t.receivers.stats().refused.unauthorized).toBe(before + 2);
      expect(t.receivers.stats().spans.received).toBe(evaluated);
      expect(t.spanCount()).toBe(evaluated);
    });
  },
);

describe.each<Transport>(['http/protobuf', 'http/json', 'grpc'])(
  'official %s metrics exporter',
  (transport) => {
    let t: TestReceivers;

    beforeAll(async () => {
      t = await startTestReceivers();
    });
    afterAll(async () => {
      await t.receivers.close();
    });

    it('reaches the metrics callback with the decoded request, its data points and (protobuf) raw bytes', async () => {
      const { receivers } = t;
      const exporter: PushMetricExporter =
        transport === 'grpc'
          ? new GrpcMetricExporter({ url: `http://${receivers.grpcAddress}` })
          : transport === 'http/json'
            ? new JsonMetricExporter({ url: `${receivers.httpUrl}/v1/metrics` })
            : new ProtoMetricExporter({ url: `${receivers.httpUrl}/v1/metrics` });
      const provider = new MeterProvider({
        resource: resourceFromAttributes({ 'service.name': `metrics-${transport}` }),
        readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 })],
      });
      const meter = provider.getMeter('exporters-test');
      const counter = meter.createCounter('orders');
      counter.add(1, { shop: 'a' });
      counter.add(2, { shop: 'b' });
      meter.createHistogram('latency').record(0.3);
      // Shutting down exports once (a forceFlush first would export the cumulative points twice).
      await provider.shutdown();

      const call = await waitFor(() => t.metrics[0]);
      expect(call.dataPoints).toBe(3);
      expect(receivers.stats().dataPoints).toBe(3);
      const type = otlpTypes().metricsRequest;
      const request = type.toObject(call.request as never) as {
        resourceMetrics: {
          resource: { attributes: { key: string; value: { stringValue: string } }[] };
          scopeMetrics: { metrics: { name: string }[] }[];
        }[];
      };
      const resource = request.resourceMetrics[0]?.resource.attributes.find((a) => a.key === 'service.name');
      expect(resource?.value.stringValue).toBe(`metrics-${transport}`);
      expect(request.resourceMetrics[0]?.scopeMetrics[0]?.metrics.map((m) => m.name).sort()).toEqual([
        'latency',
        'orders',
      ]);
      if (transport === 'http/json') expect(call.raw).toBeUndefined();
      else {
        // The raw bytes are the request itself: they decode to the same message.
        expect(call.raw).toBeInstanceOf(Uint8Array);
        expect(type.toObject(type.decode(call.raw as Uint8Array))).toEqual(
          type.toObject(call.request as never),
        );
      }
    });
  },
);
