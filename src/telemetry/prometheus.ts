/**
 * Prometheus exposition without a server of its own: the sidecar (or the host) serves the text on
 * its own `/metrics` route.
 */
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';

/** Content type of the Prometheus text format served by `/metrics`. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

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

  constructor(options: PrometheusEndpointOptions = {}) {
    this.#exclude = new Set(options.exclude ?? []);
  }

  /** Collects all metrics now and returns them in the Prometheus text format. */
  async render(): Promise<string> {
    const { resourceMetrics } = await this.reader.collect();
    if (this.#exclude.size === 0) return this.#serializer.serialize(resourceMetrics);
    return this.#serializer.serialize({
      ...resourceMetrics,
      scopeMetrics: resourceMetrics.scopeMetrics.map((scope) => ({
        ...scope,
        metrics: scope.metrics.filter((metric) => !this.#exclude.has(metric.descriptor.name)),
      })),
    });
  }
}
