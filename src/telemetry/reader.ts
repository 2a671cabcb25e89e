/**
 * A pull-only metric reader for in-process consumers (the performance summary). It exports nothing
 * and keeps no state of its own: each `collect()` asks the SDK for the current cumulative data.
 */
import { MetricReader } from '@opentelemetry/sdk-metrics';

/** See the module comment. Cumulative temporality, default aggregations (explicit histograms). */
export class InProcessMetricReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}
