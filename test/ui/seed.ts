/**
 * A seeded workload for the page tests: spans of a service that knows nothing of perf-sidecar,
 * exported to the sidecar by the official OTLP/HTTP protobuf exporter with explicit start and end
 * times, so their durations (and so the breaches) are exact without waiting; and the runtime
 * metrics such a service's SDK reports (memory, heap, CPU, event loop), minute by minute over the
 * last hour, by the official OTLP/HTTP protobuf metric exporter.
 */
import { type Attributes, type HrTime, SpanStatusCode } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';

/** The rules the seeded service is held to (`PERF_RULES_FILE`). */
export const SEED_RULES = `
rules:
  - match: { span.name: checkout }
    target_seconds: 0.1
  - match: { span.name: search }
    target_seconds: 0.25
  - match: { span.name: payment }
    target_seconds: 0.1
  - match: { span.name: login }
    target_seconds: 1
`;

/** One span to send: its name, duration, whether it failed, and how long ago it ended. */
export interface SeedSpan {
  readonly name: string;
  readonly seconds: number;
  readonly error?: boolean;
  readonly endedMsAgo?: number;
  readonly attributes?: Attributes;
}

/** Ids of one sent span. */
export interface SentSpan {
  readonly name: string;
  readonly traceId: string;
  readonly spanId: string;
}

/** Sends `spans` as service `service` to the sidecar's OTLP/HTTP receiver at `otlpHttpUrl`. */
export async function sendSpans(
  otlpHttpUrl: string,
  service: string,
  spans: readonly SeedSpan[],
): Promise<SentSpan[]> {
  // Recorded in memory, then sent in one export: one request, as a batching SDK would send them.
  const memory = new InMemorySpanExporter();
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': service }),
    spanProcessors: [new SimpleSpanProcessor({ exporter: memory })],
  });
  const tracer = provider.getTracer('seed');
  const now = Date.now();
  const sent: SentSpan[] = [];
  for (const s of spans) {
    const end = now - (s.endedMsAgo ?? 0);
    const span = tracer.startSpan(s.name, {
      startTime: new Date(end - s.seconds * 1000),
      ...(s.attributes ? { attributes: s.attributes } : {}),
    });
    if (s.error) span.setStatus({ code: SpanStatusCode.ERROR, message: 'seeded failure' });
    span.end(new Date(end));
    sent.push({ name: s.name, traceId: span.spanContext().traceId, spanId: span.spanContext().spanId });
  }
  await provider.forceFlush();
  const exporter = new OTLPTraceExporter({ url: `${otlpHttpUrl}/v1/traces` });
  const result = await new Promise<ExportResult>((resolve) =>
    exporter.export(memory.getFinishedSpans(), resolve),
  );
  await Promise.all([provider.shutdown(), exporter.shutdown()]);
  if (result.code !== ExportResultCode.SUCCESS) {
    throw new Error(`the sidecar refused the seeded spans: ${result.error?.message ?? 'no reason given'}`);
  }
  return sent;
}

/**
 * The workload the page is loaded against: `checkout` (20 runs, 5 over its 0.1 s target, one
 * failed), `search` (30 runs within 0.25 s), `login` (10 runs within its 1 s target, 2 failed), spread over
 * the last few minutes.
 */
export function seedWorkload(): SeedSpan[] {
  const spans: SeedSpan[] = [];
  for (let i = 0; i < 20; i++) {
    spans.push({
      name: 'checkout',
      seconds: i < 5 ? 0.3 + i * 0.01 : 0.02 + i * 0.002,
      error: i === 7,
      endedMsAgo: (i % 4) * 60_000 + 1000,
      attributes: { 'user.id': i % 2 === 0 ? 'u-even' : 'u-odd' },
    });
  }
  for (let i = 0; i < 30; i++) {
    spans.push({ name: 'search', seconds: 0.01 + i * 0.005, endedMsAgo: (i % 3) * 60_000 + 500 });
  }
  for (let i = 0; i < 10; i++) {
    spans.push({ name: 'login', seconds: 0.05, error: i < 2, endedMsAgo: (i % 2) * 60_000 + 800 });
  }
  return spans;
}

/** One report of a service's runtime metrics, in the units its SDK reports them. */
export interface RuntimeReport {
  /** How long ago it was taken, ms. */
  readonly msAgo: number;
  /** `process.memory.usage`, bytes. */
  readonly rssBytes: number;
  /** `v8js.memory.heap.used`, bytes. */
  readonly heapUsedBytes: number;
  /** `process.cpu.utilization`, a share of all CPUs (taken as cores: the service sends no CPU count). */
  readonly cpuUtilization: number;
  /** `nodejs.eventloop.delay.p99`, seconds. */
  readonly eventLoopDelayP99Seconds: number;
  /** `nodejs.eventloop.utilization`, 0 to 1. */
  readonly eventLoopUtilization: number;
}

/** A reader whose collections the seed takes itself, as a periodic reader would on its timer. */
class SeedReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function hrTimeOf(ms: number): HrTime {
  return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
}

/** `metrics` with every data point timed at `ms`. */
function timedAt(metrics: ResourceMetrics, ms: number): ResourceMetrics {
  const time = hrTimeOf(ms);
  return {
    ...metrics,
    scopeMetrics: metrics.scopeMetrics.map((scope) => ({
      ...scope,
      metrics: scope.metrics.map((metric) => ({
        ...metric,
        dataPoints: metric.dataPoints.map((point) => ({ ...point, startTime: time, endTime: time })),
      })),
    })) as ResourceMetrics['scopeMetrics'],
  };
}

/**
 * Sends `reports` (oldest first) as service `service` to the sidecar's OTLP/HTTP receiver at
 * `otlpHttpUrl`: the observable gauges a Node SDK's runtime instrumentation reports, collected by a
 * MeterProvider and exported one report per request, as a periodic reader would. An SDK stamps a
 * collection with the time it is taken and cannot be told otherwise, so each collection is given
 * its report's time before it is exported: a history of the last minutes without waiting for them.
 */
export async function sendRuntimeMetrics(
  otlpHttpUrl: string,
  service: string,
  reports: readonly RuntimeReport[],
): Promise<void> {
  const reader = new SeedReader();
  const provider = new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': 'seed-1' }),
    readers: [reader],
  });
  const meter = provider.getMeter('seed-runtime');
  let current: RuntimeReport | undefined;
  const gauge = (name: string, unit: string, value: (r: RuntimeReport) => number, attributes?: Attributes) =>
    meter.createObservableGauge(name, { unit }).addCallback((result) => {
      if (current) result.observe(value(current), attributes);
    });
  gauge('process.memory.usage', 'By', (r) => r.rssBytes);
  gauge('v8js.memory.heap.used', 'By', (r) => r.heapUsedBytes, { 'v8js.heap.space.name': 'old_space' });
  gauge('process.cpu.utilization', '1', (r) => r.cpuUtilization);
  gauge('nodejs.eventloop.delay.p99', 's', (r) => r.eventLoopDelayP99Seconds);
  gauge('nodejs.eventloop.utilization', '1', (r) => r.eventLoopUtilization);
  const exporter = new OTLPMetricExporter({ url: `${otlpHttpUrl}/v1/metrics` });
  const now = Date.now();
  try {
    for (const report of reports) {
      current = report;
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new Error(`the seed's metric collection failed: ${String(errors[0])}`);
      const result = await new Promise<ExportResult>((resolve) =>
        exporter.export(timedAt(resourceMetrics, now - report.msAgo), resolve),
      );
      if (result.code !== ExportResultCode.SUCCESS) {
        throw new Error(
          `the sidecar refused the seeded metrics: ${result.error?.message ?? 'no reason given'}`,
        );
      }
    }
  } finally {
    await Promise.all([provider.shutdown(), exporter.shutdown()]);
  }
}

/**
 * Runtime reports of a calm Node service over the last `minutes` minutes, one a minute, oldest
 * first: about 180 to 200 MiB resident, 70 to 85 MiB of heap, 10 to 30 % of a core, an event-loop
 * delay p99 of a few ms. Deterministic, so that the screenshot is the same on every run.
 */
export function runtimeWorkload(minutes = 55): RuntimeReport[] {
  const MIB = 1024 * 1024;
  const reports: RuntimeReport[] = [];
  for (let i = 0; i < minutes; i++) {
    reports.push({
      // A minute apart, so that each report has a minute of its own however the clock stands.
      msAgo: (minutes - 1 - i) * 60_000 + 5_000,
      rssBytes: Math.round((182 + 8 * Math.sin(i / 5) + i * 0.3) * MIB),
      heapUsedBytes: Math.round((74 + 6 * Math.sin(i / 4) + i * 0.15) * MIB),
      cpuUtilization: 0.16 + 0.06 * Math.sin(i / 3) + (i % 9 === 4 ? 0.08 : 0),
      eventLoopDelayP99Seconds: 0.011 + 0.003 * Math.sin(i / 2.5) + (i % 9 === 4 ? 0.006 : 0),
      eventLoopUtilization: 0.2 + 0.06 * Math.sin(i / 3.3),
    });
  }
  return reports;
}
