/**
 * Prometheus exposition without a server of its own: the sidecar (or the host) serves the text on
 * its own `/metrics` route.
 *
 * Names follow the OpenTelemetry-to-Prometheus compatibility rules that the Collector's Prometheus
 * exporter applies by default (`add_metric_suffixes: true`): the unit as a suffix in Prometheus'
 * words (`s` -> `_seconds`, `By` -> `_bytes`, `{request}` annotations dropped), `_ratio` on gauges
 * of unit `1`, `_total` on counters. exporter-prometheus 0.301 has no option for unit suffixes
 * (its serializer only adds `_total`), so {@link prometheusMetricName} renames the metrics of each
 * collection before the exporter's own serializer writes them.
 */
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { METRIC_DB_CLIENT_CONNECTION_COUNT } from './semconv.ts';

/** Content type of the Prometheus text format served by `/metrics`. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** OpenTelemetry units and their Prometheus words (the Collector's table, the units in use here). */
const UNIT_WORDS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '%': 'percent',
};

/** Words for the denominator of a rate unit (`By/s` -> `bytes_per_second`). */
const PER_UNIT_WORDS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

/**
 * Prometheus names given explicitly, by OpenTelemetry name, where the rules above give a name that
 * Prometheus tools reject. instrumentation-pg's `db.client.connection.count` would become
 * `db_client_connection_count`, and `_count` is reserved for histogram and summary series
 * (`promtool check metrics`: "non-histogram and non-summary metrics should not have "_count"
 * suffix").
 */
export const PROMETHEUS_NAME_OVERRIDES: Readonly<Record<string, string>> = {
  [METRIC_DB_CLIENT_CONNECTION_COUNT]: 'db_client_connections',
};

/** Suffixes Prometheus reserves for the series of histograms and summaries. */
const RESERVED_SUFFIXES = ['count', 'sum', 'bucket'];

/** What {@link prometheusMetricName} needs to know about a metric. */
export interface PrometheusNameInput {
  /** OpenTelemetry instrument name, for example `perf.operation.duration`. */
  readonly name: string;
  /** UCUM unit (`s`, `By`, `1`, `{request}`), empty when none. */
  readonly unit: string;
  /** How the metric is exported. `counter` is a monotonic sum. */
  readonly type: 'counter' | 'gauge' | 'updowncounter' | 'histogram';
}

function words(text: string): string[] {
  return text.split(/[^A-Za-z0-9]+/).filter((w) => w.length > 0);
}

/**
 * The Prometheus name of an OpenTelemetry metric, by the Collector's default compatibility rules:
 * name tokens joined with `_`, then the unit in words unless a token already says it, `_ratio`
 * for a gauge of unit `1`, `_total` for a counter; a leading digit gets `_`. A non-histogram name
 * that would end in a reserved histogram suffix (`_count`, `_sum`, `_bucket`) gets `_value`,
 * unless {@link PROMETHEUS_NAME_OVERRIDES} names it.
 *
 * @example prometheusMetricName({ name: 'http.server.request.duration', unit: 's', type: 'histogram' })
 * // 'http_server_request_duration_seconds'
 */
export function prometheusMetricName(input: PrometheusNameInput): string {
  const override = PROMETHEUS_NAME_OVERRIDES[input.name];
  if (override !== undefined) return override;
  const tokens = words(input.name);
  // Annotations in braces (`{request}`) describe what is counted; they are not units.
  const unit = input.unit.replace(/\{[^}]*\}/g, '').trim();
  if (unit !== '' && unit !== '1') {
    const [main = '', per = ''] = unit.split('/', 2).map((u) => u.trim());
    const mainWords = words(UNIT_WORDS[main] ?? main).join('_');
    if (mainWords !== '' && !tokens.includes(mainWords)) tokens.push(mainWords);
    const perWords = words(PER_UNIT_WORDS[per] ?? per).join('_');
    if (perWords !== '' && !tokens.includes(perWords)) tokens.push('per', perWords);
  }
  if (input.type === 'gauge' && input.unit === '1') {
    removeAll(tokens, 'ratio');
    tokens.push('ratio');
  }
  if (input.type === 'counter') {
    removeAll(tokens, 'total');
    tokens.push('total');
  } else if (input.type !== 'histogram' && RESERVED_SUFFIXES.includes(tokens.at(-1) ?? '')) {
    tokens.push('value');
  }
  const name = tokens.join('_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

function removeAll(tokens: string[], word: string): void {
  for (let i = tokens.indexOf(word); i !== -1; i = tokens.indexOf(word)) tokens.splice(i, 1);
}

function typeOf(metric: MetricData): PrometheusNameInput['type'] {
  switch (metric.dataPointType) {
    case DataPointType.HISTOGRAM:
    case DataPointType.EXPONENTIAL_HISTOGRAM:
      return 'histogram';
    case DataPointType.SUM:
      return metric.isMonotonic ? 'counter' : 'updowncounter';
    default:
      return 'gauge';
  }
}

/** Options of {@link PrometheusEndpoint}. */
export interface PrometheusEndpointOptions {
  /** Instrument names (OpenTelemetry form) left out of the text, for in-process-only metrics. */
  readonly exclude?: readonly string[];
}

/** A Prometheus metric reader plus the serializer that turns one collection into text. */
export class PrometheusEndpoint {
  /** The reader to register with the meter provider. */
  readonly reader = new PrometheusExporter({ preventServerStart: true });
  // Same settings as the exporter's own server would use.
  readonly #serializer = new PrometheusSerializer();
  readonly #exclude: ReadonlySet<string>;
  // Names are computed once per instrument: a scrape renames every metric.
  readonly #names = new Map<string, string>();

  constructor(options: PrometheusEndpointOptions = {}) {
    this.#exclude = new Set(options.exclude ?? []);
  }

  /** Collects all metrics now and returns them in the Prometheus text format. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect();
    return this.#serializer.serialize(this.#renamed(resourceMetrics));
  }

  #renamed(resourceMetrics: ResourceMetrics): ResourceMetrics {
    return {
      ...resourceMetrics,
      scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
        ...scope,
        metrics: scope.metrics
          .filter((metric) => !this.#exclude.has(metric.descriptor.name))
          .map((metric) => ({ ...metric, descriptor: { ...metric.descriptor, name: this.#nameOf(metric) } })),
      })),
    };
  }

  #nameOf(metric: MetricData): string {
    const { name, unit } = metric.descriptor;
    const type = typeOf(metric);
    const key = `${name}\u0000${unit}\u0000${type}`;
    let prometheus = this.#names.get(key);
    if (prometheus === undefined) {
      prometheus = prometheusMetricName({ name, unit, type });
      // Bounded: one entry per (instrument, unit, type), and instruments are few and fixed.
      if (this.#names.size < 10_000) this.#names.set(key, prometheus);
    }
    return prometheus;
  }
}
