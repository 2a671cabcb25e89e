/**
 * The sidecar as the place services export to: the OTLP receivers (`receivers.ts`) in front of the
 * telemetry's own span evaluator, so a span received from a Go or Java service is judged by exactly
 * the rules an in-process span is (targets, rules, breaches, Apdex, alerts, per-service windows and
 * rollups); runtime metrics received feed the service's `system` figures and its memory and CPU
 * alerts; and, with `OTLP_FORWARD_ENDPOINT`, every received request goes on to a Collector with each
 * evaluated span annotated (`perf.operation`, `perf.target_seconds`, `perf.target_exceeded`).
 *
 * Data flows one way: receivers -> queue -> evaluator (metrics, alerts) -> forwarder. Nothing on the
 * request path waits for evaluation or forwarding: a request is answered once its spans are queued.
 */
import { type BatchObservableCallback, type Meter, metrics } from '@opentelemetry/api';
import type { Logger } from 'pino';
import { z } from 'zod';
import { getLogger } from '../shared/logger.ts';
import { matching, parseOptions, withMethods } from '../shared/options.ts';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import type { Telemetry } from '../telemetry/index.ts';
import type { ReceiverStats } from './core.ts';
import type { Forwarder, ForwarderStats } from './forward.ts';
import { startReceivers } from './receivers.ts';
import { RuntimeMetricMapper } from './runtime-metrics.ts';
import {
  ATTR_INGEST_OUTCOME,
  ATTR_INGEST_REASON,
  METRIC_FORWARD_ITEMS,
  METRIC_INGEST_DATA_POINTS_DROPPED,
  METRIC_INGEST_QUEUE_SPANS,
  METRIC_INGEST_SPANS,
} from './semconv.ts';
import type { DecodedTraces } from './types.ts';

/** The fields of {@link IngestOptions} (a constant of their own, so the declarations keep the comments). */
const ingestOptionFields = {
  /** The running telemetry whose evaluator, services and configuration (`config.ingest`) are used. */
  telemetry: withMethods<Telemetry>(['renderPrometheus'], 'a telemetry returned by startTelemetry()'),
  /** Listen address of both receivers. Default: the configuration's `HOST`. */
  host: matching(/^[A-Za-z0-9.:_-]{1,253}$/, 'a host name or IP address').optional(),
  /** Where the receivers and the forwarder log. Default: perf-sidecar's logger. */
  logger: withMethods<Logger>(['info', 'warn', 'error'], 'a pino logger').optional(),
};
const ingestOptionsSchema: z.ZodObject<typeof ingestOptionFields, z.core.$strict> =
  z.strictObject(ingestOptionFields);

/** Options of {@link startIngest}. */
export type IngestOptions = z.input<typeof ingestOptionsSchema>;

/**
 * Why received metric data points were neither read for a service's runtime figures nor passed on
 * (there being no `OTLP_FORWARD_ENDPOINT`): `not_runtime`, a metric the sidecar does not read;
 * `not_read`, a runtime metric whose point could not be read (another unit or type, a bad value or
 * time, an attribute that rules it out, a service name no part accepts).
 */
export const DATA_POINT_DROP_REASONS = ['not_runtime', 'not_read'] as const;
/** One of {@link DATA_POINT_DROP_REASONS}. */
export type DataPointDropReason = (typeof DATA_POINT_DROP_REASONS)[number];

/** What became of the metric data points received (forwarding's own counts are in `forward`). */
export interface DataPointStats {
  /** Read for a service's runtime figures (and forwarded too, when forwarding is on). */
  readonly used: number;
  /** Neither read nor queued for forwarding, by reason. */
  readonly dropped: Readonly<Record<DataPointDropReason, number>>;
}

/** What the ingest has done so far, for health and metrics. */
export interface IngestStats {
  /** Requests, spans and data points received, accepted, rejected and refused; the queue. */
  readonly receivers: ReceiverStats;
  /** Metric data points used, or dropped unused. */
  readonly dataPoints: DataPointStats;
  /** Forwarding counters; `undefined` without `OTLP_FORWARD_ENDPOINT`. */
  readonly forward: ForwarderStats | undefined;
}

/** Running OTLP receivers. */
export interface Ingest {
  /** OTLP/HTTP base URL (exporters append `/v1/traces`), for example `http://127.0.0.1:4318`. */
  readonly httpUrl: string;
  /** OTLP/gRPC `host:port`, for example `127.0.0.1:4317`. */
  readonly grpcAddress: string;
  /** Counters and queue figures. */
  stats(): IngestStats;
  /**
   * Graceful stop within about `timeoutMs`: the receivers stop listening and finish in-flight
   * requests, everything accepted is evaluated, then what is queued for forwarding is sent.
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the OTLP/HTTP and OTLP/gRPC receivers of `telemetry`'s configuration (`OTLP_HTTP_PORT`,
 * `OTLP_GRPC_PORT`, `PERF_INGEST_*`, `OTLP_FORWARD_*`).
 *
 * @throws {InvalidArgumentError} naming a bad option, before anything starts.
 * @throws {Error} when an address cannot be listened on (`EADDRINUSE`, ...); nothing is left running.
 */
export async function startIngest(given: IngestOptions): Promise<Ingest> {
  const options = parseOptions(ingestOptionsSchema, given, { what: 'an option of startIngest' });
  const { telemetry } = options;
  const { config } = telemetry;
  const settings = config.ingest;
  const logger = options.logger ?? getLogger();
  const forward = settings.forward;
  // Loaded only with OTLP_FORWARD_ENDPOINT: the forwarder and its transports are memory a sidecar
  // that forwards nothing would hold for nothing.
  const forwarding = forward.endpoint ? await import('./forward.ts') : undefined;
  const forwarder: Forwarder | undefined = forward.endpoint
    ? forwarding?.createForwarder({
        endpoint: forward.endpoint,
        protocol: forward.protocol,
        headers: forward.headers,
        queueSpans: forward.queueSpans,
        queueBytes: forward.queueBytes,
        timeoutMs: forward.timeoutMs,
        logger,
      })
    : undefined;
  const runtime = new RuntimeMetricMapper({ sink: telemetry.services });
  const points = { used: 0, dropped: { not_runtime: 0, not_read: 0 } };

  const processTraces = (decoded: DecodedTraces): void => {
    const evaluator = telemetry.evaluator;
    for (const span of decoded.spans) {
      // A perf-sidecar host has judged its spans already (metrics, alerts): judging them again would
      // count every run and raise every alert twice. They are forwarded as they came.
      if (span.evaluatedAtSource) continue;
      const verdict = evaluator.evaluate(span.view);
      // Annotated only when forwarded: the annotations are for the Collector's backends.
      if (forwarding && verdict) forwarding.annotateSpan(span.message, verdict);
    }
    if (forwarder && decoded.spans.length > 0) forwarder.enqueue(decoded.request, decoded.spans.length);
  };

  const receivers = await startReceivers({
    host: options.host ?? config.server.host,
    httpPort: settings.httpPort,
    grpcPort: settings.grpcPort,
    ...(settings.token ? { token: settings.token } : {}),
    maxBodyBytes: settings.maxBodyBytes,
    queueSpans: settings.queueSpans,
    queueBytes: settings.queueBytes,
    ...(settings.maxInflightBytes === undefined ? {} : { maxInflightBytes: settings.maxInflightBytes }),
    processTraces,
    onMetrics: (request, dataPoints, raw) => {
      const counts = runtime.map(request);
      points.used += counts.used;
      // Protobuf bodies are passed on as received; a JSON body's message is encoded as protobuf.
      if (forwarder) forwarder.enqueueMetrics(raw ?? request, dataPoints);
      else {
        points.dropped.not_runtime += counts.notRuntime;
        points.dropped.not_read += counts.ignored - counts.notRuntime;
      }
    },
    logger,
  }).catch(async (error: unknown) => {
    await forwarder?.close(1000);
    throw error;
  });

  const stats = (): IngestStats => ({
    receivers: receivers.stats(),
    dataPoints: { used: points.used, dropped: { ...points.dropped } },
    forward: forwarder?.stats(),
  });
  const unobserve = observe(metrics.getMeterProvider().getMeter(SCOPE_NAME, VERSION), stats);

  let closing: Promise<void> | undefined;
  return {
    httpUrl: receivers.httpUrl,
    grpcAddress: receivers.grpcAddress,
    stats,
    close(timeoutMs = 5000) {
      closing ??= (async () => {
        const deadline = Date.now() + timeoutMs;
        // Receivers first (their queue drains into the forwarder), then the forwarder.
        await receivers.close(timeoutMs * 0.6);
        await forwarder?.close(Math.max(deadline - Date.now(), 100));
        unobserve();
      })();
      return closing;
    },
  };
}

/**
 * The ingest counters as metrics, read when metrics are collected (nothing on the request path).
 *
 * @returns what stops the observation (on close: a stopped ingest has no figures to report).
 */
function observe(meter: Meter, stats: () => IngestStats): () => void {
  const spans = meter.createObservableCounter(METRIC_INGEST_SPANS, {
    description:
      'Spans received over OTLP, by outcome (accepted, rejected one by one, refused with their request)',
    unit: '{span}',
  });
  const queue = meter.createObservableGauge(METRIC_INGEST_QUEUE_SPANS, {
    description: 'Spans accepted over OTLP and not yet evaluated',
    unit: '{span}',
  });
  const dropped = meter.createObservableCounter(METRIC_INGEST_DATA_POINTS_DROPPED, {
    description:
      'Metric data points received over OTLP and neither read for runtime figures nor forwarded, by reason',
    unit: '{data_point}',
  });
  const forwarded = meter.createObservableCounter(METRIC_FORWARD_ITEMS, {
    description: 'Spans and metric data points forwarded upstream, or dropped, by reason',
    unit: '{item}',
  });
  const callback: BatchObservableCallback = (result) => {
    const { receivers, dataPoints, forward } = stats();
    result.observe(spans, receivers.spans.accepted, { [ATTR_INGEST_OUTCOME]: 'accepted' });
    result.observe(spans, receivers.spans.rejected, { [ATTR_INGEST_OUTCOME]: 'rejected' });
    result.observe(spans, receivers.spans.refused, { [ATTR_INGEST_OUTCOME]: 'refused' });
    result.observe(queue, receivers.queue.spans);
    for (const reason of DATA_POINT_DROP_REASONS) {
      result.observe(dropped, dataPoints.dropped[reason], { [ATTR_INGEST_REASON]: reason });
    }
    if (!forward) return;
    result.observe(forwarded, forward.spansForwarded + forward.dataPointsForwarded, {
      [ATTR_INGEST_OUTCOME]: 'forwarded',
    });
    for (const [reason, n] of Object.entries(forward.spansDropped)) {
      const points = forward.dataPointsDropped[reason as keyof typeof forward.dataPointsDropped] ?? 0;
      result.observe(forwarded, n + points, {
        [ATTR_INGEST_OUTCOME]: 'dropped',
        [ATTR_INGEST_REASON]: reason,
      });
    }
  };
  const observables = [spans, queue, dropped, forwarded];
  meter.addBatchObservableCallback(callback, observables);
  return () => meter.removeBatchObservableCallback(callback, observables);
}
