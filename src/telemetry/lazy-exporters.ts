/**
 * OTLP exporters loaded only when the configuration selects them.
 *
 * The six OTLP exporter packages (the gRPC ones pull in `@grpc/grpc-js`) cost hundreds of
 * milliseconds to import, and most processes export nothing over OTLP. `startTelemetry` stays
 * synchronous, so the exporter handed to the SDK is a stand-in: it starts the dynamic import at
 * once and delegates `export`, `forceFlush` and `shutdown` once the package has loaded. Exports
 * asked for before that wait for it (at most {@link MAX_WAITING_EXPORTS} of them; more fail at
 * once). A failed import fails every export with an error that says so, and is logged once.
 */
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  type AggregationOption,
  AggregationTemporality,
  AggregationType,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { MetricTemporality } from '../config/otel.ts';
import type { OtlpProtocol } from '../config.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';

/** Most exports that wait for the exporter package to load; more fail at once (bounded memory). */
export const MAX_WAITING_EXPORTS = 16;

/** An exporter that is being loaded: the shared part of the span and metric stand-ins. */
class Loading<E extends { forceFlush?(): Promise<void>; shutdown(): Promise<void> }> {
  readonly #ready: Promise<E | undefined>;
  #exporter: E | undefined;
  #error: Error | undefined;
  #waiting = 0;

  constructor(what: string, load: () => Promise<E>) {
    this.#ready = load().then(
      (exporter) => {
        this.#exporter = exporter;
        return exporter;
      },
      (cause: unknown) => {
        this.#error = new Error(`the ${what} exporter could not be loaded: ${errorText(cause)}`, { cause });
        getLogger().error(
          { err: errorText(cause) },
          `the ${what} exporter could not be loaded; its exports fail`,
        );
        return undefined;
      },
    );
  }

  /** The loaded exporter, if it has loaded. */
  get exporter(): E | undefined {
    return this.#exporter;
  }

  /** Runs `use` with the exporter now, or once it has loaded; `fail` when it cannot be. */
  run(use: (exporter: E) => void, fail: (error: Error) => void): void {
    if (this.#exporter) use(this.#exporter);
    else if (this.#error) fail(this.#error);
    else if (this.#waiting >= MAX_WAITING_EXPORTS) {
      fail(new Error(`the exporter is still loading and ${MAX_WAITING_EXPORTS} exports already wait`));
    } else {
      this.#waiting++;
      void this.#ready.then((exporter) => {
        this.#waiting--;
        if (exporter) use(exporter);
        else fail(this.#error ?? new Error('the exporter could not be loaded'));
      });
    }
  }

  async forceFlush(): Promise<void> {
    await (await this.#ready)?.forceFlush?.();
  }

  async shutdown(): Promise<void> {
    await (await this.#ready)?.shutdown();
  }
}

function failed(error: Error): ExportResult {
  return { code: ExportResultCode.FAILED, error };
}

/** A span exporter loaded in the background (see the module comment). */
export class LazySpanExporter implements SpanExporter {
  readonly #loading: Loading<SpanExporter>;

  /**
   * @param what the exporter's name in errors and logs, for example `otlp grpc trace`.
   * @param load imports the package and makes the exporter; called once, now.
   */
  constructor(what: string, load: () => Promise<SpanExporter>) {
    this.#loading = new Loading(what, load);
  }

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    this.#loading.run(
      (exporter) => exporter.export(spans, done),
      (error) => done(failed(error)),
    );
  }

  forceFlush(): Promise<void> {
    return this.#loading.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#loading.shutdown();
  }
}

/**
 * Which temporality an OTLP exporter with this preference asks for (the OTLP exporters' own
 * selectors, repeated here so that the answer is right before their package has loaded: the SDK
 * keeps the temporality an instrument had at its first collection).
 */
export function temporalityFor(preference: MetricTemporality, type: InstrumentType): AggregationTemporality {
  if (preference === 'delta') {
    return type === InstrumentType.UP_DOWN_COUNTER || type === InstrumentType.OBSERVABLE_UP_DOWN_COUNTER
      ? AggregationTemporality.CUMULATIVE
      : AggregationTemporality.DELTA;
  }
  if (preference === 'lowmemory') {
    return type === InstrumentType.COUNTER || type === InstrumentType.HISTOGRAM
      ? AggregationTemporality.DELTA
      : AggregationTemporality.CUMULATIVE;
  }
  return AggregationTemporality.CUMULATIVE;
}

/** The OTLP exporters' `temporalityPreference` values (their `AggregationTemporalityPreference`). */
const PREFERENCE_CODE: Readonly<Record<MetricTemporality, number>> = {
  delta: 0,
  cumulative: 1,
  lowmemory: 2,
};

/**
 * A push metric exporter loaded in the background (see the module comment). Its temporality is the
 * configured preference, given to the exporter it loads too, so the SDK gets the same answer before
 * and after the load; until it has loaded, aggregation is the OTLP default.
 */
export class LazyMetricExporter implements PushMetricExporter {
  readonly #loading: Loading<PushMetricExporter>;
  readonly #temporality: MetricTemporality;

  /**
   * @param temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`. Default cumulative.
   * @see LazySpanExporter
   */
  constructor(
    what: string,
    load: () => Promise<PushMetricExporter>,
    temporality: MetricTemporality = 'cumulative',
  ) {
    this.#loading = new Loading(what, load);
    this.#temporality = temporality;
  }

  export(metrics: ResourceMetrics, done: (result: ExportResult) => void): void {
    this.#loading.run(
      (exporter) => exporter.export(metrics, done),
      (error) => done(failed(error)),
    );
  }

  selectAggregationTemporality(instrumentType: InstrumentType): AggregationTemporality {
    return temporalityFor(this.#temporality, instrumentType);
  }

  selectAggregation(instrumentType: InstrumentType): AggregationOption {
    const exporter = this.#loading.exporter;
    return exporter?.selectAggregation?.(instrumentType) ?? { type: AggregationType.DEFAULT };
  }

  forceFlush(): Promise<void> {
    return this.#loading.forceFlush();
  }

  shutdown(): Promise<void> {
    return this.#loading.shutdown();
  }
}

/** What an OTLP exporter is given: the resolved URL, and the headers (HTTP only). */
export interface OtlpDestination {
  readonly protocol: OtlpProtocol;
  readonly url: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Options of an OTLP exporter: the URL when resolved, and over HTTP the headers. gRPC reads its
 * metadata from the standard variables itself.
 */
function exporterOptions(to: OtlpDestination): { url?: string; headers?: Record<string, string> } {
  const url = to.url === undefined ? {} : { url: to.url };
  return to.protocol === 'grpc' ? url : { ...url, headers: { ...to.headers } };
}

/** The constructor of an OTLP exporter, as perf-sidecar calls it. */
type ExporterClass<E> = new (
  options: ReturnType<typeof exporterOptions> & { temporalityPreference?: number },
) => E;

/** Each protocol's trace exporter package, imported on demand. */
const TRACE_EXPORTERS: Record<OtlpProtocol, () => Promise<ExporterClass<SpanExporter>>> = {
  grpc: async () => (await import('@opentelemetry/exporter-trace-otlp-grpc')).OTLPTraceExporter,
  'http/json': async () => (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter,
  'http/protobuf': async () => (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter,
};

/** Each protocol's metric exporter package, imported on demand. */
const METRIC_EXPORTERS: Record<OtlpProtocol, () => Promise<ExporterClass<PushMetricExporter>>> = {
  grpc: async () => (await import('@opentelemetry/exporter-metrics-otlp-grpc')).OTLPMetricExporter,
  'http/json': async () => (await import('@opentelemetry/exporter-metrics-otlp-http')).OTLPMetricExporter,
  'http/protobuf': async () =>
    (await import('@opentelemetry/exporter-metrics-otlp-proto')).OTLPMetricExporter,
};

/** The OTLP trace exporter of `to.protocol`, its package imported in the background. */
export function otlpTraceExporter(to: OtlpDestination): SpanExporter {
  const load = TRACE_EXPORTERS[to.protocol];
  return new LazySpanExporter(
    `otlp ${to.protocol} trace`,
    async () => new (await load())(exporterOptions(to)),
  );
}

/** The OTLP metric exporter of `to.protocol`, its package imported in the background. */
export function otlpMetricExporter(to: OtlpDestination, temporality: MetricTemporality): PushMetricExporter {
  const load = METRIC_EXPORTERS[to.protocol];
  return new LazyMetricExporter(
    `otlp ${to.protocol} metric`,
    async () =>
      new (await load())({ ...exporterOptions(to), temporalityPreference: PREFERENCE_CODE[temporality] }),
    temporality,
  );
}
