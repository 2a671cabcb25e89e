/**
 * Request bodies to messages, and trace requests to checked spans. Both transports and both
 * encodings end in the same protobufjs message objects: protobuf through `Type.decode`, OTLP/JSON
 * through `Type.fromObject` (see `json.ts`). A body that does not decode is a {@link DecodeError};
 * a span that decodes but cannot be right (bad ids, end before start, far in the future) is
 * rejected on its own, counted and left out of the request, the rest going on.
 */
import type { SpanKind } from '@opentelemetry/api';
import type { Type } from 'protobufjs';
import { describeValue, errorText } from '../shared/errors.ts';
import { attributesOf, runsPerfSidecar, serviceOf, viewString } from './attributes.ts';
import { JsonShapeError, messageFromJson } from './json.ts';
import type { DecodedTraces, ProtoKeyValue, ReceivedSpan } from './types.ts';

/** How a body is encoded, from its content type. */
export type BodyFormat = 'protobuf' | 'json';

/** A body that is not a request of the expected type; the message says what was wrong. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/**
 * How far in the future a span may start or end: clocks of the sending hosts drift, so an hour is
 * allowed; past that the timestamps are wrong (a unit mistake, a broken clock) and would poison
 * durations and windows.
 */
export const MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

/**
 * Decodes a body as a `type` message.
 *
 * @param what what the body should be, for the error (`an OTLP trace request`).
 * @throws {DecodeError} when it is not one.
 */
export function decodeMessage(type: Type, body: Uint8Array, format: BodyFormat, what: string): object {
  if (format === 'protobuf') {
    try {
      return type.decode(body);
    } catch (error) {
      // Truncated or garbage bytes, or nesting past protobufjs's recursion limit (100, as protoc's).
      throw new DecodeError(`the body is not ${what} in protobuf: ${errorText(error)}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch (error) {
    throw new DecodeError(`the body is not valid JSON: ${errorText(error)}`);
  }
  try {
    return messageFromJson(type, json);
  } catch (error) {
    if (error instanceof JsonShapeError)
      throw new DecodeError(`the body is not ${what} in OTLP/JSON: ${error.message}`);
    throw new DecodeError(`the body is not ${what} in OTLP/JSON: ${errorText(error)}`);
  }
}

/**
 * The estimate of what a decoded trace request holds in memory, which the queue's byte bound counts
 * (a decoded request is 4 to 20 times its protobuf body): {@link DECODED_BODY_FACTOR} times the body
 * (its strings become JavaScript strings, and the decoded ids are views into the body, which keeps
 * it alive), plus {@link DECODED_SPAN_BYTES} a span (the message, its 64-bit times, its view for
 * evaluation) and {@link DECODED_ENTRY_BYTES} an attribute, event or link (a KeyValue and its
 * AnyValue, and the view's copy). Measured with protobufjs 7 on Node.js 24 on protobuf requests of
 * 0 to 30 attributes a span, short and long values: 5 to 30 % above the heap they take. A JSON
 * body is overestimated (its text is larger than what it decodes to, and is not kept): the bound
 * errs on the safe side. Counted while checking, from array lengths: no extra walk over the values.
 */
export const DECODED_BODY_FACTOR = 2;
/** See {@link DECODED_BODY_FACTOR}. */
export const DECODED_SPAN_BYTES = 1536;
/** See {@link DECODED_BODY_FACTOR}. */
export const DECODED_ENTRY_BYTES = 160;

/** The parts of a decoded `ExportTraceServiceRequest` the checks read. */
interface TraceRequestMessage {
  resourceSpans?: ResourceSpansMessage[] | null;
}
interface ResourceSpansMessage {
  resource?: { attributes?: ProtoKeyValue[] | null } | null;
  scopeSpans?: { spans?: SpanMessage[] | null }[] | null;
}
interface SpanMessage {
  traceId?: Uint8Array | null;
  spanId?: Uint8Array | null;
  parentSpanId?: Uint8Array | null;
  flags?: number | null;
  name?: string | null;
  kind?: number | null;
  startTimeUnixNano?: unknown;
  endTimeUnixNano?: unknown;
  attributes: ProtoKeyValue[];
  events?: { attributes?: unknown[] | null }[] | null;
  links?: { attributes?: unknown[] | null }[] | null;
  status?: { code?: number | null } | null;
}

/** Attributes, events and links of a span, with the attributes of its events and links. */
function entriesOf(span: SpanMessage): number {
  let n = span.attributes?.length ?? 0;
  for (const event of span.events ?? []) n += 1 + (event?.attributes?.length ?? 0);
  for (const link of span.links ?? []) n += 1 + (link?.attributes?.length ?? 0);
  return n;
}

/** A 64-bit protobufjs value (`Long` with its 32-bit halves, or a number) as a bigint of nanoseconds. */
function nanos(value: unknown): bigint {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value > 0 ? BigInt(value) : 0n;
  if (value !== null && typeof value === 'object' && 'low' in value && 'high' in value) {
    const { low, high } = value as { low: number; high: number };
    // fixed64 is unsigned: the halves are read as unsigned whatever the Long's own flag says.
    return (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  }
  return 0n;
}

/** What is wrong with an id of `length` bytes, or `undefined` when nothing is. */
function idProblem(what: string, bytes: Uint8Array | null | undefined, length: number): string | undefined {
  const size = bytes?.length ?? 0;
  const expected = `expected ${length} bytes (${length * 2} hex digits), not all zero`;
  if (!bytes || size !== length) return `its ${what} is ${size} bytes; ${expected}`;
  for (const b of bytes) if (b !== 0) return undefined;
  return `its ${what} is all zero; ${expected}`;
}

function hexOf(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Why a span cannot be evaluated, or `undefined` when it can. */
function spanProblem(span: SpanMessage, latestNs: bigint, start: bigint, end: bigint): string | undefined {
  const ids = idProblem('trace id', span.traceId, 16) ?? idProblem('span id', span.spanId, 8);
  if (ids !== undefined) return ids;
  const parent = span.parentSpanId?.length ?? 0;
  if (parent !== 0 && parent !== 8) return `its parent span id is ${parent} bytes; expected 8 bytes or none`;
  if (start === 0n || end === 0n)
    return 'its start or end time is missing; expected both, in nanoseconds since the epoch';
  if (end < start) return 'it ends before it starts; expected an end time at or after the start time';
  if (start > latestNs || end > latestNs) {
    return 'its start or end time is more than an hour in the future; expected the time it ran (check the clock and the unit: nanoseconds)';
  }
  return undefined;
}

/** `SpanKind` from the OTLP enum: one less, unspecified (and unknown values) as INTERNAL. */
function kindOf(kind: number | null | undefined): SpanKind {
  return (typeof kind === 'number' && kind >= 1 && kind <= 5 ? kind - 1 : 0) as SpanKind;
}

/**
 * Checks every span of a decoded trace request and makes its view. Rejected spans are removed from
 * the request (it is forwarded as it is left), counted, and the first reason kept.
 *
 * @param message a decoded `ExportTraceServiceRequest`.
 * @param nowMs the current time, epoch ms (the future limit is an hour past it).
 * @param bodyBytes the size of the body it was decoded from, for {@link DecodedTraces.estimatedBytes}.
 */
export function checkTraces(message: object, nowMs: number = Date.now(), bodyBytes = 0): DecodedTraces {
  const request = message as TraceRequestMessage;
  const latestNs = (BigInt(Math.floor(nowMs)) + BigInt(MAX_CLOCK_SKEW_MS)) * 1_000_000n;
  const spans: ReceivedSpan[] = [];
  let rejected = 0;
  let rejectedReason: string | undefined;
  let index = 0;
  let entries = 0;
  for (const resourceSpans of request.resourceSpans ?? []) {
    entries += resourceSpans.resource?.attributes?.length ?? 0;
    const service = serviceOf(resourceSpans.resource?.attributes);
    const evaluatedAtSource = runsPerfSidecar(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      const list = scopeSpans.spans ?? [];
      const kept: SpanMessage[] = [];
      for (const span of list) {
        const start = nanos(span.startTimeUnixNano);
        const end = nanos(span.endTimeUnixNano);
        const problem = service.ok ? spanProblem(span, latestNs, start, end) : service.problem;
        if (problem !== undefined || !service.ok) {
          // Rejected spans leave the request: partial_success tells the sender they were dropped.
          rejected++;
          rejectedReason ??= `span ${index} (name ${describeValue(span.name ?? '')}) was rejected: ${problem}`;
          index++;
          continue;
        }
        kept.push(span);
        index++;
        entries += entriesOf(span);
        spans.push({
          message: span,
          evaluatedAtSource,
          view: {
            name: viewString(span.name ?? ''),
            service: service.service,
            kind: kindOf(span.kind),
            attributes: attributesOf(span.attributes),
            durationSeconds: Number(end - start) / 1e9,
            error: span.status?.code === 2,
            traceId: hexOf(span.traceId as Uint8Array),
            spanId: hexOf(span.spanId as Uint8Array),
            traceFlags: (span.flags ?? 0) & 0xff,
          },
        });
      }
      if (kept.length !== list.length) scopeSpans.spans = kept;
    }
  }
  const estimatedBytes =
    DECODED_BODY_FACTOR * bodyBytes + DECODED_SPAN_BYTES * spans.length + DECODED_ENTRY_BYTES * entries;
  return { request: message, spans, rejected, rejectedReason, estimatedBytes };
}

/** The parts of a decoded `ExportMetricsServiceRequest` counting reads. */
interface MetricsRequestMessage {
  resourceMetrics?: { scopeMetrics?: { metrics?: MetricMessage[] | null }[] | null }[] | null;
}
type Points = { dataPoints?: unknown[] | null } | null | undefined;
interface MetricMessage {
  gauge?: Points;
  sum?: Points;
  histogram?: Points;
  exponentialHistogram?: Points;
  summary?: Points;
}

/** The data points of a decoded metrics request, for the response and the counters. */
export function countDataPoints(message: object): number {
  let count = 0;
  for (const rm of (message as MetricsRequestMessage).resourceMetrics ?? []) {
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const data = m.gauge ?? m.sum ?? m.histogram ?? m.exponentialHistogram ?? m.summary;
        count += data?.dataPoints?.length ?? 0;
      }
    }
  }
  return count;
}
