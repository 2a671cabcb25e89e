/**
 * A seeded workload for the page tests: spans of a service that knows nothing of perf-sidecar,
 * exported to the sidecar by the official OTLP/HTTP protobuf exporter with explicit start and end
 * times, so their durations (and so the breaches) are exact without waiting.
 */
import { type Attributes, SpanStatusCode } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
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
