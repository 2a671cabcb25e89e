/**
 * What the parts of the OTLP ingest hand each other: decoded requests with the spans to evaluate,
 * and the narrow interfaces of the evaluator, the forwarder and the runtime store they feed.
 */
import type { RuntimeSink, SpanView, TraceEvaluator } from '../telemetry/internal.ts';

export type { RuntimeSink, TraceEvaluator };

/** One OTLP `KeyValue` as protobufjs decodes it (and encodes it again when forwarding). */
export interface ProtoKeyValue {
  key: string;
  value?: ProtoAnyValue | null;
}

/** One OTLP `AnyValue` as protobufjs decodes it (64-bit integers as `Long` or number). */
export interface ProtoAnyValue {
  stringValue?: string | null;
  boolValue?: boolean | null;
  intValue?: number | { toNumber(): number } | null;
  doubleValue?: number | null;
  arrayValue?: { values?: ProtoAnyValue[] | null } | null;
  kvlistValue?: { values?: ProtoKeyValue[] | null } | null;
  bytesValue?: Uint8Array | null;
}

/** The part of a decoded OTLP `Span` the ingest writes to: its attributes (annotations go here). */
export interface ProtoSpanTarget {
  attributes: ProtoKeyValue[];
}

/** A span that passed the receiver's checks: its neutral view and the decoded message it came from. */
export interface ReceivedSpan {
  readonly view: SpanView;
  /**
   * Whether the span comes from a service that runs perf-sidecar in process (its resource's
   * `telemetry.distro.name` is `perf-sidecar`): that service has already judged it, counted it and
   * raised its alerts, so the sidecar forwards it without judging it again.
   */
  readonly evaluatedAtSource: boolean;
  /** The decoded span inside {@link DecodedTraces.request}, annotated before forwarding. */
  readonly message: ProtoSpanTarget;
}

/** A decoded `ExportTraceServiceRequest`, checked span by span. */
export interface DecodedTraces {
  /** The request as protobufjs decoded it: forwarded (annotated) as is. */
  readonly request: object;
  /** The spans to evaluate, in request order. */
  readonly spans: readonly ReceivedSpan[];
  /** Spans refused (bad ids, end before start, ...), for `partial_success.rejected_spans`. */
  readonly rejected: number;
  /** Why the first refused span was refused, for `partial_success.error_message`. */
  readonly rejectedReason: string | undefined;
  /**
   * Estimated memory the decoded request holds while it waits (bytes): what the queue's byte bound
   * counts (see `DECODED_BODY_FACTOR` in `decode.ts`).
   */
  readonly estimatedBytes: number;
}

/** Sends evaluated requests on (the forwarder). */
export interface TraceForwarder {
  /**
   * Queues an annotated request of `spans` spans, encoded during the call (changes made to
   * `request` afterwards are not sent); synchronous, never throws (drops and counts when full).
   */
  enqueue(request: object, spans: number): void;
  /** Sends what is queued within `timeoutMs`, then stops. */
  close(timeoutMs: number): Promise<void>;
}
