/**
 * The export side of the pipeline, as the configuration chose it: span processors for
 * `OTEL_TRACES_EXPORTER` and push metric readers for `OTEL_METRICS_EXPORTER`, each OTLP exporter
 * loaded only when selected (see `lazy-exporters.ts`).
 */
import {
  ConsoleMetricExporter,
  type IMetricReader,
  PeriodicExportingMetricReader,
  type PushMetricExporter,
} from '@opentelemetry/sdk-metrics';
import {
  BatchSpanProcessor,
  ConsoleSpanExporter,
  SimpleSpanProcessor,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import type { OtlpSignal, PerfSidecarConfig } from '../config.ts';
import { redactUrl } from '../shared/urls.ts';
import { otlpMetricExporter, otlpTraceExporter } from './lazy-exporters.ts';

/**
 * The span processors of the trace export: `custom` through a batch processor when given, else the
 * exporters `OTEL_TRACES_EXPORTER` chose (as the SDK does: console through a simple processor, OTLP
 * through a batch one with the `OTEL_BSP_*` settings, which sdk-trace 3.x no longer reads itself).
 * An OTLP exporter is given the resolved URL and headers; what else the standard variables set
 * (timeouts, compression, certificates, signal-specific headers) it reads itself.
 */
export function traceExportProcessors(
  otlp: PerfSidecarConfig['otlp'],
  custom?: SpanExporter,
): SpanProcessor[] {
  const { traces, headers } = otlp;
  if (custom) return [new BatchSpanProcessor({ exporter: custom, ...traces.batch })];
  return traces.exporters.map((name) =>
    name === 'console'
      ? new SimpleSpanProcessor({ exporter: new ConsoleSpanExporter() })
      : new BatchSpanProcessor({
          exporter: otlpTraceExporter({ protocol: traces.protocol, url: traces.url, headers }),
          ...traces.batch,
        }),
  );
}

/**
 * The push readers `OTEL_METRICS_EXPORTER` chose, next to the Prometheus and in-process readers.
 * The instruments named in `exclude` are left out of what they push.
 */
export function metricPushReaders(
  otlp: PerfSidecarConfig['otlp'],
  exclude: readonly string[],
): IMetricReader[] {
  const { metrics: signal, headers } = otlp;
  return signal.exporters.map((name) => {
    const exporter =
      name === 'console'
        ? new ConsoleMetricExporter()
        : otlpMetricExporter({ protocol: signal.protocol, url: signal.url, headers }, signal.temporality);
    return new PeriodicExportingMetricReader({
      exporter: withoutMetrics(exporter, exclude),
      exportIntervalMillis: signal.intervalMs,
      exportTimeoutMillis: Math.min(30_000, signal.intervalMs),
    });
  });
}

/** An exporter that leaves out the named instruments (per-user series stay in process). */
function withoutMetrics(exporter: PushMetricExporter, names: readonly string[]): PushMetricExporter {
  const excluded = new Set(names);
  return {
    export: (metrics, done) =>
      exporter.export(
        {
          ...metrics,
          scopeMetrics: metrics.scopeMetrics.map((scope) => ({
            ...scope,
            metrics: scope.metrics.filter((m) => !excluded.has(m.descriptor.name)),
          })),
        },
        done,
      ),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    ...(exporter.selectAggregationTemporality
      ? { selectAggregationTemporality: exporter.selectAggregationTemporality.bind(exporter) }
      : {}),
    ...(exporter.selectAggregation ? { selectAggregation: exporter.selectAggregation.bind(exporter) } : {}),
  };
}

/** Where a signal goes, for the start-up line (URLs redacted). */
export function exportDestination(signal: OtlpSignal): string {
  if (signal.exporters.length === 0) return 'not exported';
  return signal.exporters
    .map((name) =>
      name === 'console'
        ? 'console'
        : `otlp ${signal.protocol} ${signal.url ? redactUrl(signal.url) : '(exporter default)'}`,
    )
    .join(', ');
}
