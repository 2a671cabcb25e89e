/**
 * Cardinality flood: RSS and `/metrics` size before and after 100,000 distinct operation names.
 *
 *     node --expose-gc bench/flood.ts [names] [same|raw] [--export]
 *
 * Prints one JSON line per phase (RSS after a forced GC, heap used, /metrics bytes and lines,
 * `perf_operation_duration` series) and the growth. Memory-only telemetry (no Redis), no
 * instrumentations, no trace exporter (the default without OTEL_EXPORTER_OTLP_ENDPOINT; `--export`
 * adds one that discards). `same` runs as many operations under one name: the RSS that running
 * that many spans costs whatever their names (V8 and the SDK's allocation high-water), to subtract
 * from the flood's figure to get what the distinct names themselves cost. `raw` runs as many
 * bare `startActiveSpan` spans (distinct names, no perf-sidecar attribute) in the same telemetry:
 * what the SDK and its context manager cost without the tracking.
 */
import { trace } from '@opentelemetry/api';
import { loadConfig } from '../src/config.ts';
import { startTelemetry, stopTelemetry, trackOperation } from '../src/telemetry/index.ts';
import { DiscardExporter } from './lib.ts';

const MIB = 1024 * 1024;
const names = Number(process.argv[2] ?? 100_000);
// `same`: the same number of operations under one name, to tell span churn from cardinality.
const sameName = process.argv[3] === 'same';
// `raw`: bare active spans, no tracking (the SDK's own share).
const raw = process.argv[3] === 'raw';
const gc = (globalThis as { gc?: () => void }).gc;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 50));
}

async function measure(phase: string, render: () => Promise<string>) {
  // Two collections, so that the readers' transient arrays are gone before the reading.
  await render();
  gc?.();
  await settle();
  gc?.();
  const text = await render();
  gc?.();
  const memory = process.memoryUsage();
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  const figures = {
    phase,
    rssMiB: Math.round((memory.rss / MIB) * 10) / 10,
    heapUsedMiB: Math.round((memory.heapUsed / MIB) * 10) / 10,
    metricsBytes: Buffer.byteLength(text),
    metricsSeries: lines.length,
    operationSeries: lines.filter((l) => l.startsWith('perf_operation_duration')).length,
  };
  process.stdout.write(`${JSON.stringify(figures)}\n`);
  return figures;
}

if (!gc) process.stderr.write('warning: run with --expose-gc for stable RSS figures\n');
const config = loadConfig({ LOG_LEVEL: 'error', REDIS_URL: '' });
// No trace exporter: the default without OTEL_EXPORTER_OTLP_ENDPOINT (`--export` adds a discarding one).
const exportSpans = process.argv.includes('--export');
const telemetry = startTelemetry({
  config,
  instrumentations: [],
  ...(exportSpans ? { traceExporter: new DiscardExporter() } : {}),
});
await settle();
const render = () => telemetry.renderPrometheus();
const rawTracer = trace.getTracer('bench-raw');
// A realistic start: a few operations with targets, collected once.
for (let i = 0; i < 20; i++)
  trackOperation(`known_${i % 5}`, { targetSeconds: 1, measureResources: false }, () => 1);
await telemetry.windows.collect();
const before = await measure('before', render);
for (let i = 0; i < names; i++) {
  const name = sameName ? 'flood' : `flood_${i}`;
  if (raw) rawTracer.startActiveSpan(name, (span) => span.end());
  else trackOperation(name, { targetSeconds: 1, measureResources: false }, () => 1);
  // Let the batch processor drain, as a service under load would.
  if (i % 2000 === 0) await settle();
}
await telemetry.windows.collect();
const after = await measure(
  raw
    ? `after ${names} raw spans`
    : sameName
      ? `after ${names} operations, one name`
      : `after ${names} names`,
  render,
);
process.stdout.write(
  `${JSON.stringify({
    names,
    rssGrowthMiB: Math.round((after.rssMiB - before.rssMiB) * 10) / 10,
    heapGrowthMiB: Math.round((after.heapUsedMiB - before.heapUsedMiB) * 10) / 10,
    metricsBytesBefore: before.metricsBytes,
    metricsBytesAfter: after.metricsBytes,
    seriesAfter: after.metricsSeries,
  })}\n`,
);
await stopTelemetry(2000);
