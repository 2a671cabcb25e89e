/**
 * Runtime figures a watched service reports about itself over OTLP metrics (`/v1/metrics`), mapped
 * from the semantic-convention metrics of its language's runtime by `src/ingest`: what fills that
 * service's `system` part of the summary and drives its `high_memory` / `high_cpu` alerts.
 */

/** The latest runtime figures of one service (each absent when the service does not report it). */
export interface RuntimeSample {
  /** When the figures were taken (the data points' time), epoch ms. */
  readonly at: number;
  /** Resident set size, bytes (`process.memory.usage`, or the runtime's nearest equivalent). */
  readonly rssBytes?: number;
  /** Heap in use, bytes (`v8js.memory.heap.used`, `jvm.memory.used` of type heap, Go/Python equivalents). */
  readonly heapUsedBytes?: number;
  /** CPU use as a share of one core (1 = one core busy), like the sidecar's own CPU percent / 100. */
  readonly cpuCores?: number;
  /** Event-loop delay p99, seconds (`nodejs.eventloop.delay.p99`). */
  readonly eventLoopDelayP99Seconds?: number;
  /** Event-loop utilisation, 0 to 1 (`nodejs.eventloop.utilization`). */
  readonly eventLoopUtilization?: number;
}

/** Where per-service runtime figures go (the telemetry's service registry; the receivers feed it). */
export interface RuntimeSink {
  /** Records the latest figures of `service`; synchronous, never throws. */
  record(service: string, sample: RuntimeSample): void;
}
