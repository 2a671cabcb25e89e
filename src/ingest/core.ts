/**
 * What both receivers share: the budget of bodies in memory they reserve from before reading, and
 * what they do with a body once it is read: decode it, check the spans, queue the trace request or
 * hand the metrics on, and say how it went, as an {@link ExportResult} each transport turns into
 * its own answer. The counters of both receivers live here.
 */
import type { InflightBudget, InflightStats, Reservation } from './budget.ts';
import { type BodyFormat, checkTraces, countDataPoints, DecodeError, decodeMessage } from './decode.ts';
import { otlpTypes } from './proto.ts';
import type { TraceQueue } from './queue.ts';
import { exportResponse, QUEUE_FULL_MESSAGE } from './responses.ts';

/** Receives each decoded metrics request (the raw protobuf bytes too, when it came as protobuf). */
export type OnMetrics = (request: object, dataPoints: number, raw: Uint8Array | undefined) => void;

/** Why a whole request was refused. */
export type RefusalReason =
  | 'unauthorized'
  | 'notFound'
  | 'methodNotAllowed'
  | 'unsupportedMediaType'
  | 'tooLarge'
  | 'timeout'
  | 'invalid'
  | 'queueFull'
  | 'busy'
  | 'shuttingDown'
  | 'aborted'
  | 'internal';

/** How a request went, for its transport to answer. */
export type ExportResult =
  /** Accepted; `rejected` items refused one by one (`partial_success`), the first reason in `errorMessage`. */
  | { readonly kind: 'accepted'; readonly response: object }
  /** Not a request of the right type (HTTP 400, INVALID_ARGUMENT). */
  | { readonly kind: 'invalid'; readonly message: string }
  /** The queue has no room now (HTTP 429, RESOURCE_EXHAUSTED with RetryInfo): retry later. */
  | { readonly kind: 'queueFull'; readonly message: string }
  /** The in-flight budget has no room now (answered as `queueFull`): retry later. */
  | { readonly kind: 'busy'; readonly message: string }
  /** More spans than the queue can ever hold (HTTP 413, RESOURCE_EXHAUSTED without RetryInfo): send smaller batches. */
  | { readonly kind: 'tooManySpans'; readonly message: string };

/** Counters of both receivers, mutable here, copied for {@link IngestCore.stats}. */
interface Counters {
  requests: { http: number; grpc: number };
  spans: { received: number; accepted: number; rejected: number; refused: number };
  dataPoints: number;
  refused: Record<RefusalReason, number>;
  bodies: { wireBytes: number; bodyBytes: number };
}

/** The receivers' figures, for health and metrics. */
export interface ReceiverStats {
  /** Requests that reached a receiver, per transport. */
  readonly requests: { readonly http: number; readonly grpc: number };
  readonly spans: {
    /** Spans in requests that decoded. */
    readonly received: number;
    /** Queued for evaluation. */
    readonly accepted: number;
    /** Refused one by one (bad ids, times), reported in `partial_success`. */
    readonly rejected: number;
    /**
     * In requests refused as a whole after decoding because the queue was full (the client may retry
     * them). Requests refused before their body was read, the queue being full already, are not decoded
     * and not counted here.
     */
    readonly refused: number;
    /** Evaluated (handed to `processTraces` and finished with). */
    readonly processed: number;
    /** Accepted, then discarded unevaluated because a shutdown ran out of time. */
    readonly notEvaluated: number;
  };
  /** Metric data points received. */
  readonly dataPoints: number;
  /** Requests refused as a whole, by reason. */
  readonly refused: Readonly<Record<RefusalReason, number>>;
  /** The queue: spans and the estimated memory of their decoded requests, and its bounds. */
  readonly queue: {
    readonly spans: number;
    readonly bytes: number;
    readonly requests: number;
    readonly maxSpans: number;
    readonly maxBytes: number;
    /** Calls of `processTraces` that threw. */
    readonly processFailures: number;
  };
  /** OTLP/HTTP bodies: bytes read off the wire, and after decompression. */
  readonly http: { readonly wireBytes: number; readonly bodyBytes: number };
  /** The budget of bodies being read or handled, both receivers together. */
  readonly inflight: InflightStats;
}

const REASONS: readonly RefusalReason[] = [
  'unauthorized',
  'notFound',
  'methodNotAllowed',
  'unsupportedMediaType',
  'tooLarge',
  'timeout',
  'invalid',
  'queueFull',
  'busy',
  'shuttingDown',
  'aborted',
  'internal',
];

/** Decoding, checking and queueing shared by the HTTP and gRPC receivers. */
export class IngestCore {
  readonly #queue: TraceQueue;
  readonly #budget: InflightBudget;
  readonly #onMetrics: OnMetrics | undefined;
  /** The counters, which the receivers add to (body bytes, requests); read them with {@link IngestCore.stats}. */
  readonly counters: Counters = {
    requests: { http: 0, grpc: 0 },
    spans: { received: 0, accepted: 0, rejected: 0, refused: 0 },
    dataPoints: 0,
    refused: Object.fromEntries(REASONS.map((r) => [r, 0])) as Record<RefusalReason, number>,
    bodies: { wireBytes: 0, bodyBytes: 0 },
  };

  constructor(queue: TraceQueue, budget: InflightBudget, onMetrics: OnMetrics | undefined) {
    this.#queue = queue;
    this.#budget = budget;
    this.#onMetrics = onMetrics;
  }

  /**
   * Reserves `bytes` of the in-flight budget for a body about to be read: the reservation (grow it
   * as the body turns out larger; release it once the request is answered or cut off), or
   * `undefined` when the budget has no room now (answer 429 / RESOURCE_EXHAUSTED with RetryInfo at
   * once, reading nothing).
   */
  reserve(bytes: number): Reservation | undefined {
    return this.#budget.reserve(bytes);
  }

  /** Counts a request refused as a whole. */
  refuse(reason: RefusalReason): void {
    this.counters.refused[reason]++;
  }

  /** Whether the queue has no room for a single span (checked before reading a trace body). */
  queueFull(): boolean {
    return this.#queue.isFull();
  }

  /** Decodes, checks and queues a trace request. */
  traces(body: Uint8Array, format: BodyFormat): ExportResult {
    let message: object;
    try {
      message = decodeMessage(otlpTypes().traceRequest, body, format, 'an OTLP trace request');
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.refuse('invalid');
      return { kind: 'invalid', message: error.message };
    }
    const decoded = checkTraces(message, Date.now(), body.byteLength);
    const spans = decoded.spans.length;
    const { counters } = this;
    counters.spans.received += spans + decoded.rejected;
    if (!this.#queue.canHold(spans)) {
      this.refuse('tooLarge');
      counters.spans.refused += spans;
      return {
        kind: 'tooManySpans',
        message: `the request holds ${spans} spans, more than the receiver's queue holds (${this.#queue.stats().maxSpans}); send smaller batches`,
      };
    }
    if (!this.#queue.offer(decoded)) {
      this.refuse('queueFull');
      counters.spans.refused += spans;
      return { kind: 'queueFull', message: QUEUE_FULL_MESSAGE };
    }
    counters.spans.accepted += spans;
    counters.spans.rejected += decoded.rejected;
    return { kind: 'accepted', response: exportResponse('traces', decoded.rejected, decoded.rejectedReason) };
  }

  /** Decodes a metrics request and hands it to `onMetrics`. */
  metrics(body: Uint8Array, format: BodyFormat): ExportResult {
    let message: object;
    try {
      message = decodeMessage(otlpTypes().metricsRequest, body, format, 'an OTLP metrics request');
    } catch (error) {
      if (!(error instanceof DecodeError)) throw error;
      this.refuse('invalid');
      return { kind: 'invalid', message: error.message };
    }
    const points = countDataPoints(message);
    this.counters.dataPoints += points;
    // Not caught: a throwing callback is an internal fault, answered 500 / INTERNAL and logged.
    this.#onMetrics?.(message, points, format === 'protobuf' ? body : undefined);
    return { kind: 'accepted', response: exportResponse('metrics', 0, undefined) };
  }

  /** A copy of the counters, with the queue's figures. */
  stats(): ReceiverStats {
    const c = this.counters;
    const q = this.#queue.stats();
    return {
      requests: { ...c.requests },
      spans: { ...c.spans, processed: q.processedSpans, notEvaluated: q.notEvaluated },
      dataPoints: c.dataPoints,
      refused: { ...c.refused },
      queue: {
        spans: q.spans,
        bytes: q.bytes,
        requests: q.requests,
        maxSpans: q.maxSpans,
        maxBytes: q.maxBytes,
        processFailures: q.processFailures,
      },
      http: { ...c.bodies },
      inflight: this.#budget.stats(),
    };
  }
}
