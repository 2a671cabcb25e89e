/**
 * A pull-only metric reader for in-process consumers (the performance summary's minute windows). It
 * exports nothing and keeps no state of its own: each `collect()` asks the SDK for the data, in the
 * temporality its options select (cumulative by default; the windows use delta).
 */
import { MetricReader } from '@opentelemetry/sdk-metrics';

/** See the module comment. Default aggregations (explicit histograms). */
export class InProcessMetricReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
