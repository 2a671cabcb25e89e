/**
 * The forwarder: sends received (and annotated) OTLP requests on to a Collector, so that traces
 * reach Jaeger or Tempo with `perf.target_seconds`, `perf.target_exceeded` and `perf.operation`
 * on every evaluated span, and passes on metrics the sidecar does not use.
 *
 * Receiving never waits on the upstream: `enqueue` encodes the request at once and queues its bytes
 * (bounded in spans and in bytes; past either, the oldest requests go, counted), and about two
 * requests are in flight at a time. An attempt that fails in a way a retry may cure (HTTP
 * 429/502/503/504, a network error or timeout; gRPC UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED,
 * CANCELLED, OUT_OF_RANGE, DATA_LOSS, and RESOURCE_EXHAUSTED when it carries RetryInfo) is retried
 * with exponential backoff and jitter, honouring Retry-After or RetryInfo within a cap, a bounded
 * number of times within a bounded time; a refusal (HTTP 400, ...) drops the request at once. Every
 * dropped span or data point is counted by reason. Errors and logs never show header values or URL
 * user information.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { z } from 'zod';
import { FORWARD_PROTOCOLS } from '../config/ingest.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { accepts, integer, parseOptions, withMethods } from '../shared/options.ts';
import { secretUrl } from '../shared/urls.ts';
import {
  ATTR_PERF_OPERATION,
  ATTR_PERF_TARGET_EXCEEDED,
  ATTR_PERF_TARGET_SECONDS,
  type Verdict,
} from '../telemetry/internal.ts';
import {
  type ForwardSignal,
  type ForwardTransport,
  forwardHeadersSchema,
  grpcTransport,
  httpTransport,
  splitEndpoint,
  type TransportSettings,
} from './forward-transport.ts';
import { otlpTypes } from './proto.ts';
import type { ProtoKeyValue, ProtoSpanTarget, TraceForwarder } from './types.ts';

/** Why spans or data points were dropped instead of forwarded. */
export const DROP_REASONS = ['queue_full', 'rejected', 'retries_exhausted', 'closed', 'invalid'] as const;
/** One of {@link DROP_REASONS}. */
export type DropReason = (typeof DROP_REASONS)[number];

const REASON_TEXT: Readonly<Record<DropReason, string>> = {
  queue_full: 'the forwarding queue was full, the oldest requests went',
  rejected: 'the upstream refused them',
  retries_exhausted: 'the upstream kept failing and retries ran out',
  closed: 'the forwarder closed before they could be sent',
  invalid: 'the request could not be encoded',
};

/** Values shorter than this are not scrubbed from upstream text (they would mangle it, and hide nothing). */
const MIN_SCRUBBED_LENGTH = 4;
/** Drops of one reason are logged at most this often, ms. */
const WARN_INTERVAL_MS = 60_000;

/** Schema of the {@link createForwarder} options. */
export const forwarderOptionsSchema = z.strictObject({
  /** Base URL of the upstream (a Collector): HTTP posts to `<endpoint>/v1/traces`; gRPC calls its host:port. */
  endpoint: accepts(
    secretUrl((p) => p === 'http:' || p === 'https:', 'password or token'),
    'an http:// or https:// base URL, for example http://collector:4318',
    true,
  ),
  /** Transport. Default `http/protobuf`. */
  protocol: accepts(z.enum(FORWARD_PROTOCOLS), `one of ${FORWARD_PROTOCOLS.join(', ')}`).default(
    'http/protobuf',
  ),
  /** Headers (gRPC: metadata) of every request, for example an API key. Never logged. */
  headers: forwardHeadersSchema.default({}),
  /** Most spans (plus metric data points) waiting to be sent; past it the oldest requests go. Default 100000. */
  queueSpans: integer(1, 10_000_000).default(100_000),
  /**
   * Most encoded bytes waiting to be sent; past it the oldest requests go. Default 64 MiB. A span
   * count alone does not bound memory: one span may carry megabytes of attributes.
   */
  queueBytes: integer(1024, 16 * 1024 * 1024 * 1024, 'bytes').default(64 * 1024 * 1024),
  /** Longest one attempt may take, ms. Default 10000. */
  timeoutMs: integer(100, 120_000, 'ms').default(10_000),
  /** Requests in flight at once. Default 2. */
  concurrency: integer(1, 16).default(2),
  /** Attempts per request, the first included. Default 6. */
  maxAttempts: integer(1, 20).default(6),
  /** Longest a request may spend being retried, ms; past it, it is dropped. Default 60000. */
  maxRetryMs: integer(0, 600_000, 'ms').default(60_000),
  /** Longest pause between two attempts, Retry-After included, ms. Default 30000. */
  retryMaxDelayMs: integer(1, 300_000, 'ms').default(30_000),
  /** Pause before the first retry, ms (doubling per attempt, with jitter). Default 500; tests make it small. */
  retryBaseDelayMs: integer(1, 60_000, 'ms').default(500),
  /** Where drops and failures are logged. Default: perf-sidecar's logger. */
  logger: withMethods<Logger>(['warn', 'info', 'debug'], 'a pino logger').optional(),
});

/** Options of {@link createForwarder}. */
export type ForwarderOptions = z.input<typeof forwarderOptionsSchema>;

/** What the forwarder has done so far. */
export interface ForwarderStats {
  /** Spans the upstream accepted. */
  readonly spansForwarded: number;
  /** Metric data points the upstream accepted. */
  readonly dataPointsForwarded: number;
  /** Spans dropped, by reason. */
  readonly spansDropped: Readonly<Record<DropReason, number>>;
  /** Metric data points dropped, by reason. */
  readonly dataPointsDropped: Readonly<Record<DropReason, number>>;
  /** Spans and data points waiting in the queue (not in flight). */
  readonly queued: number;
  /** Encoded bytes waiting in the queue (not in flight). */
  readonly queuedBytes: number;
  /** Requests waiting in the queue. */
  readonly queuedRequests: number;
  /** Requests being sent or waiting to be retried. */
  readonly inFlight: number;
  /** Attempts that were retries. */
  readonly retries: number;
  /** The latest failure (without secrets), and when, epoch ms. */
  readonly lastError: { readonly message: string; readonly at: number } | undefined;
}

/** A forwarder of traces and metrics. */
export interface Forwarder extends TraceForwarder {
  /**
   * Queues an `ExportMetricsServiceRequest` of `dataPoints` data points, under the same rules as
   * traces (it shares their queue): its protobuf bytes, kept as given, not copied (the caller must
   * not reuse the buffer), or a decoded message (one that came as OTLP/JSON), encoded during the
   * call. Synchronous, never throws.
   */
  enqueueMetrics(body: Uint8Array | object, dataPoints: number): void;
  /** A snapshot of the counters. */
  stats(): ForwarderStats;
}

/** A queued request: its encoded bytes (released once it is sent or dropped). */
interface Pending {
  readonly signal: ForwardSignal;
  readonly items: number;
  /** `body.byteLength`, kept for the byte count after the body is released. */
  readonly bytes: number;
  body: Uint8Array | undefined;
}

function zeroes(): Record<DropReason, number> {
  return { queue_full: 0, rejected: 0, retries_exhausted: 0, closed: 0, invalid: 0 };
}

class OtlpForwarder implements Forwarder {
  readonly #transport: ForwardTransport;
  readonly #logger: Logger;
  readonly #shown: string;
  readonly #secrets: readonly string[];
  readonly #capacity: number;
  readonly #byteCapacity: number;
  readonly #concurrency: number;
  readonly #maxAttempts: number;
  readonly #maxRetryMs: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  /** Queue: `#queue[#head..]`, compacted now and then. */
  #queue: (Pending | undefined)[] = [];
  #head = 0;
  #queued = 0;
  #queuedBytes = 0;
  #inFlight = 0;
  #scheduled = false;
  #closing: Promise<void> | undefined;
  readonly #abort = new AbortController();
  readonly #idleWaiters: (() => void)[] = [];
  #spansForwarded = 0;
  #dataPointsForwarded = 0;
  readonly #spansDropped = zeroes();
  readonly #dataPointsDropped = zeroes();
  #retries = 0;
  #lastError: { message: string; at: number } | undefined;
  readonly #warnedAt = new Map<DropReason, number>();

  constructor(options: z.output<typeof forwarderOptionsSchema>) {
    this.#logger = options.logger ?? getLogger();
    const { url, shown, basic, secrets } = splitEndpoint(options.endpoint);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers)) headers[name.toLowerCase()] = value;
    if (basic !== undefined && headers.authorization === undefined) headers.authorization = basic;
    this.#shown = shown;
    this.#secrets = [...secrets, ...Object.values(options.headers)]
      .filter((s) => s.length >= MIN_SCRUBBED_LENGTH)
      .sort((a, b) => b.length - a.length);
    this.#capacity = options.queueSpans;
    this.#byteCapacity = options.queueBytes;
    this.#concurrency = options.concurrency;
    this.#maxAttempts = options.maxAttempts;
    this.#maxRetryMs = options.maxRetryMs;
    this.#baseDelayMs = options.retryBaseDelayMs;
    this.#maxDelayMs = options.retryMaxDelayMs;
    const settings: TransportSettings = { endpoint: url, shown, headers, timeoutMs: options.timeoutMs };
    this.#transport = options.protocol === 'grpc' ? grpcTransport(settings) : httpTransport(settings);
  }

  enqueue(request: object, spans: number): void {
    // Per received request, so hand-written checks rather than a schema parse; never throws.
    if (request === null || typeof request !== 'object' || !Number.isSafeInteger(spans) || spans < 0) {
      this.#count('traces', 'invalid', Number.isSafeInteger(spans) && spans > 0 ? spans : 0);
      return;
    }
    if (spans === 0) return;
    if (this.#closing !== undefined) {
      this.#count('traces', 'closed', spans);
      return;
    }
    // Encoded now, once: the bytes are a fraction of the decoded objects' memory (which the queue
    // would otherwise hold), they can be bounded, and the request is sent as it was annotated.
    let body: Uint8Array;
    try {
      body = otlpTypes()
        .traceRequest.encode(request as Record<string, unknown>)
        .finish();
    } catch (error) {
      this.#fail(`a request could not be encoded: ${errorText(error)}`);
      this.#count('traces', 'invalid', spans);
      return;
    }
    this.#add({ signal: 'traces', items: spans, bytes: body.byteLength, body });
  }

  enqueueMetrics(body: Uint8Array | object, dataPoints: number): void {
    if (body === null || typeof body !== 'object' || !Number.isSafeInteger(dataPoints) || dataPoints < 0) {
      this.#count('metrics', 'invalid', Number.isSafeInteger(dataPoints) && dataPoints > 0 ? dataPoints : 0);
      return;
    }
    if (dataPoints === 0) return;
    let bytes: Uint8Array;
    if (body instanceof Uint8Array) bytes = body;
    else {
      // A JSON body's message: encoded with the types it was decoded with, as trace requests are.
      try {
        bytes = otlpTypes()
          .metricsRequest.encode(body as Record<string, unknown>)
          .finish();
      } catch (error) {
        this.#fail(`a request could not be encoded: ${errorText(error)}`);
        this.#count('metrics', 'invalid', dataPoints);
        return;
      }
    }
    this.#add({ signal: 'metrics', items: dataPoints, bytes: bytes.byteLength, body: bytes });
  }

  stats(): ForwarderStats {
    return {
      spansForwarded: this.#spansForwarded,
      dataPointsForwarded: this.#dataPointsForwarded,
      spansDropped: { ...this.#spansDropped },
      dataPointsDropped: { ...this.#dataPointsDropped },
      queued: this.#queued,
      queuedBytes: this.#queuedBytes,
      queuedRequests: this.#queue.length - this.#head,
      inFlight: this.#inFlight,
      retries: this.#retries,
      lastError: this.#lastError === undefined ? undefined : { ...this.#lastError },
    };
  }

  close(timeoutMs: number): Promise<void> {
    this.#closing ??= this.#shutdown(Number.isFinite(timeoutMs) ? Math.max(0, timeoutMs) : 0);
    return this.#closing;
  }

  #add(entry: Pending): void {
    if (this.#closing !== undefined) {
      this.#drop(entry, 'closed');
      return;
    }
    // A request larger than a bound still goes into an empty queue, as the receivers' queue takes
    // any request when empty: it was accepted, and the bound is about what waits, not its size.
    const empty = this.#queued === 0 && this.#queuedBytes === 0;
    if (!empty && (entry.items > this.#capacity || entry.bytes > this.#byteCapacity)) {
      this.#drop(entry, 'queue_full');
      return;
    }
    while (
      this.#queued + entry.items > this.#capacity ||
      this.#queuedBytes + entry.bytes > this.#byteCapacity
    ) {
      if (this.#queued === 0 && this.#queuedBytes === 0) break;
      const oldest = this.#shift();
      if (oldest === undefined) break;
      this.#drop(oldest, 'queue_full');
    }
    this.#queue.push(entry);
    this.#queued += entry.items;
    this.#queuedBytes += entry.bytes;
    this.#schedule();
  }

  #shift(): Pending | undefined {
    const entry = this.#queue[this.#head];
    if (entry === undefined) return undefined;
    this.#queue[this.#head] = undefined;
    this.#head++;
    this.#queued -= entry.items;
    this.#queuedBytes -= entry.bytes;
    // Compacting now and then keeps shift O(1) without the array growing forever.
    if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }

  /** Starts sending after the caller's turn: `enqueue` itself never sends. */
  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#pump();
    });
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && !this.#abort.signal.aborted) {
      const entry = this.#shift();
      if (entry === undefined) break;
      this.#inFlight++;
      void this.#deliver(entry).finally(() => {
        this.#inFlight--;
        this.#pump();
        this.#settleIdle();
      });
    }
    this.#settleIdle();
  }

  async #deliver(entry: Pending): Promise<void> {
    const body = entry.body;
    if (body === undefined) return;
    const started = Date.now();
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.#transport.send(entry.signal, body, this.#abort.signal);
      if (outcome.ok) {
        const rejected = Math.min(outcome.rejected, entry.items);
        this.#forwarded(entry.signal, entry.items - rejected);
        if (rejected > 0) {
          this.#fail(
            `${this.#shown} refused part of a request${outcome.message ? `: ${outcome.message}` : ''}`,
          );
          this.#count(entry.signal, 'rejected', rejected);
        }
        return;
      }
      if (outcome.aborted) return this.#drop(entry, 'closed');
      this.#fail(outcome.error);
      if (!outcome.retryable) return this.#drop(entry, 'rejected');
      const delay = this.#backoff(attempt, outcome.retryAfterMs);
      if (attempt >= this.#maxAttempts || Date.now() - started + delay > this.#maxRetryMs) {
        return this.#drop(entry, 'retries_exhausted');
      }
      try {
        await sleep(delay, undefined, { signal: this.#abort.signal, ref: false });
      } catch {
        return this.#drop(entry, 'closed');
      }
      this.#retries++;
    }
  }

  /** Exponential backoff with jitter (half to all of the step), at least Retry-After, at most the cap. */
  #backoff(attempt: number, retryAfterMs: number | undefined): number {
    const step = this.#baseDelayMs * 2 ** Math.min(attempt - 1, 30);
    const jittered = step * (0.5 + Math.random() * 0.5);
    return Math.min(Math.max(jittered, retryAfterMs ?? 0), this.#maxDelayMs);
  }

  #forwarded(signal: ForwardSignal, items: number): void {
    if (signal === 'traces') this.#spansForwarded += items;
    else this.#dataPointsForwarded += items;
  }

  #drop(entry: Pending, reason: DropReason): void {
    entry.body = undefined;
    this.#count(entry.signal, reason, entry.items);
  }

  #count(signal: ForwardSignal, reason: DropReason, items: number): void {
    if (signal === 'traces') this.#spansDropped[reason] += items;
    else this.#dataPointsDropped[reason] += items;
    // At shutdown, drops are summed up once, in #shutdown.
    if (reason === 'closed' || items === 0) return;
    const now = Date.now();
    const last = this.#warnedAt.get(reason);
    if (last !== undefined && now - last < WARN_INTERVAL_MS) return;
    this.#warnedAt.set(reason, now);
    this.#logger.warn(
      {
        endpoint: this.#shown,
        reason,
        spansDropped: this.#spansDropped[reason],
        dataPointsDropped: this.#dataPointsDropped[reason],
        lastError: this.#lastError?.message,
      },
      `forwarding dropped ${items} ${signal === 'traces' ? 'spans' : 'metric data points'}: ${REASON_TEXT[reason]} (counted; logged at most once a minute per reason)`,
    );
  }

  /** Keeps the latest failure, with every configured secret removed from it. */
  #fail(message: string): void {
    let text = message;
    for (const secret of this.#secrets) text = text.split(secret).join('***');
    this.#lastError = { message: text, at: Date.now() };
    this.#logger.debug({ endpoint: this.#shown, err: text }, 'forwarding attempt failed');
  }

  #settleIdle(): void {
    if (this.#inFlight > 0 || this.#queued > 0 || this.#queue.length > this.#head) return;
    for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#idleWaiters.push(resolve);
      this.#settleIdle();
    });
  }

  async #shutdown(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const until = (ms: number) => sleep(Math.max(0, ms), undefined, { ref: false });
    this.#pump();
    await Promise.race([this.#idle(), until(timeoutMs)]);
    this.#abort.abort();
    for (let entry = this.#shift(); entry !== undefined; entry = this.#shift()) this.#drop(entry, 'closed');
    // Cut attempts settle within a turn or two; the wait stays within the deadline (20 ms at least).
    await Promise.race([this.#idle(), until(Math.max(20, deadline - Date.now()))]);
    this.#transport.close();
    const spans = this.#spansDropped.closed;
    const points = this.#dataPointsDropped.closed;
    if (spans > 0 || points > 0) {
      this.#logger.warn(
        { endpoint: this.#shown, spansDropped: spans, dataPointsDropped: points },
        `forwarding closed with ${spans} spans and ${points} metric data points unsent`,
      );
    }
  }
}

/**
 * A forwarder to `options.endpoint`.
 *
 * @throws {InvalidArgumentError} naming a bad option (the endpoint and header values never shown).
 */
export function createForwarder(options: ForwarderOptions): Forwarder {
  return new OtlpForwarder(
    parseOptions(forwarderOptionsSchema, options, { what: 'an option of createForwarder' }),
  );
}

/** The keys whose values are the sidecar's own conclusion about a target, replaced on every span. */
const TARGET_KEYS = new Set([ATTR_PERF_TARGET_SECONDS, ATTR_PERF_TARGET_EXCEEDED]);

/**
 * Writes the verdict onto a decoded span before it is forwarded. `perf.operation` (string) only
 * when the span has no string one of its own: a span's own operation name says what its service
 * meant, even when the sidecar reports it as `_other` (a name it refused, or past a cap); a
 * non-string one was not used by the evaluator and is replaced by what was. `perf.target_seconds` (double)
 * and `perf.target_exceeded` (bool) are what the sidecar concluded: any of these two keys the span
 * carries are removed, then written when the verdict has a target (a span's own unusable
 * `perf.target_seconds` does not stay beside the verdict, nor stand in for one).
 */
export function annotateSpan(message: ProtoSpanTarget, verdict: Verdict): void {
  const attributes = message.attributes;
  let kept = 0;
  let hasOperation = false;
  for (let i = 0; i < attributes.length; i++) {
    const attribute = attributes[i] as ProtoKeyValue;
    if (attribute.key === ATTR_PERF_OPERATION) {
      const value = attribute.value;
      if (value && Object.hasOwn(value, 'stringValue') && typeof value.stringValue === 'string') {
        hasOperation = true;
      } else continue;
    }
    if (!TARGET_KEYS.has(attribute.key)) attributes[kept++] = attribute;
  }
  attributes.length = kept;
  if (!hasOperation) attributes.push({ key: ATTR_PERF_OPERATION, value: { stringValue: verdict.operation } });
  if (verdict.targetSeconds !== undefined) {
    attributes.push({ key: ATTR_PERF_TARGET_SECONDS, value: { doubleValue: verdict.targetSeconds } });
    attributes.push({ key: ATTR_PERF_TARGET_EXCEEDED, value: { boolValue: verdict.exceeded } });
  }
}
