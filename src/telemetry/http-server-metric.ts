/**
 * instrumentation-http's `http.server.request.duration`, recorded into perf-sidecar's own metric
 * store (`operation-metrics.ts`) instead of an SDK histogram.
 *
 * Why: an SDK `record` hashes its attribute set once per metric reader (sorting the keys and
 * serialising them), and perf-sidecar always has two readers (Prometheus and the summary windows),
 * so instrumentation-http's one record per request cost two hashes and two aggregations: about a
 * third of what the performance middleware adds on top of instrumentation-http. Here each record
 * makes one key of its attribute set and adds into one series, which every reader then reports.
 *
 * The instrumentations get a meter provider that is the SDK's in everything but this one
 * instrument of instrumentation-http's meter: the same name, description, unit, buckets (its
 * advice) and scope (the instrumentation's name and version), each reader in its own temporality,
 * and the SDK's default cardinality limit (2000 series, the rest in one `otel.metric.overflow`
 * series). Attribute sets are told apart by their keys and values in their order (instrumentation-http
 * builds them in one order); the first object recorded with a set is the one reported, as the SDK
 * reports it.
 */
import type {
  Attributes,
  AttributeValue,
  Histogram,
  Meter,
  MeterOptions,
  MeterProvider,
  MetricOptions,
} from '@opentelemetry/api';
import { METRIC_HTTP_SERVER_REQUEST_DURATION } from '@opentelemetry/semantic-conventions';
import type { ValueRecorder } from './metric-sink.ts';
import type { OperationMetrics } from './operation-metrics.ts';

/** The meter whose `http.server.request.duration` is taken over. */
const HTTP_INSTRUMENTATION = '@opentelemetry/instrumentation-http';

/** The SDK's default cardinality limit: series past it are recorded into the overflow one. */
const MAX_SERIES = 2000;

/** The attribute set the SDK records over its cardinality limit into. */
const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

/** The SDK's default explicit bucket boundaries, for a histogram created without advice. */
const SDK_DEFAULT_BOUNDARIES = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

/** One value as part of a key: its type and text, length-prefixed so that no two sets share a key. */
function keyPart(value: AttributeValue): string {
  const text =
    typeof value === 'string'
      ? `s${value}`
      : typeof value === 'number'
        ? `n${value}`
        : `j${JSON.stringify(value)}`;
  return `${text.length}:${text}`;
}

/**
 * The series of one instrument by attribute contents, bounded like an SDK instrument: past the
 * SDK's default cardinality limit, records go to one `otel.metric.overflow` series. Equal sets
 * (the same keys and values in the same order) share a series, as the SDK merges them; the first
 * object given for a set is the one reported. Used for instrumentation-http's histogram here and
 * for the performance middleware's.
 */
export class SeriesByContents {
  readonly #seriesOf: (attributes: Attributes) => ValueRecorder;
  readonly #byKey = new Map<string, ValueRecorder>();
  #overflow: ValueRecorder | undefined;

  /** @param seriesOf - makes the series of a new attribute set. */
  constructor(seriesOf: (attributes: Attributes) => ValueRecorder) {
    this.#seriesOf = seriesOf;
  }

  /** The series of `attributes`, or the overflow series once the limit is reached. */
  of(attributes: Attributes): ValueRecorder {
    let key = '';
    for (const name in attributes) {
      const part = attributes[name];
      if (part !== undefined) key += `${name.length}:${name}${keyPart(part)}`;
    }
    let series = this.#byKey.get(key);
    if (series !== undefined) return series;
    if (this.#byKey.size >= MAX_SERIES - 1) {
      this.#overflow ??= this.#seriesOf(OVERFLOW_ATTRIBUTES);
      return this.#overflow;
    }
    series = this.#seriesOf(attributes);
    this.#byKey.set(key, series);
    return series;
  }
}

/** A histogram over the store's series of one instrument, found by attribute contents. */
class ContentKeyedHistogram implements Histogram {
  readonly #series: SeriesByContents;

  constructor(seriesOf: (attributes: Attributes) => ValueRecorder) {
    this.#series = new SeriesByContents(seriesOf);
  }

  record(value: number, attributes: Attributes = {}): void {
    this.#series.of(attributes).record(value);
  }
}

/**
 * `provider` as the instrumentations must be given it: instrumentation-http's
 * `http.server.request.duration` goes into `store` (see the module comment), the rest to the SDK.
 */
export function instrumentationMeterProvider(
  provider: MeterProvider,
  store: OperationMetrics,
): MeterProvider {
  return {
    getMeter(name: string, version?: string, options?: MeterOptions): Meter {
      const meter = provider.getMeter(name, version, options);
      if (name !== HTTP_INSTRUMENTATION || options?.schemaUrl) return meter;
      const scope = { name, version: version ?? '', schemaUrl: undefined } as const;
      const createHistogram = (metric: string, metricOptions?: MetricOptions): Histogram => {
        if (metric !== METRIC_HTTP_SERVER_REQUEST_DURATION)
          return meter.createHistogram(metric, metricOptions);
        const histogram = store.histogram(
          {
            name: metric,
            description: metricOptions?.description ?? '',
            unit: metricOptions?.unit ?? '',
            boundaries: metricOptions?.advice?.explicitBucketBoundaries ?? SDK_DEFAULT_BOUNDARIES,
          },
          scope,
        );
        return new ContentKeyedHistogram((attributes) => histogram.series(attributes));
      };
      return Object.assign(Object.create(meter) as Meter, { createHistogram });
    },
  };
}
