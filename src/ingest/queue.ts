/**
 * The bounded queue between the receivers and evaluation. A receiver answers as soon as a request
 * is queued, so evaluation (and forwarding) never holds up an exporter; the bound, in spans and in
 * the estimated memory of the decoded requests, is what turns overload into 429 /
 * RESOURCE_EXHAUSTED answers instead of memory. Nothing accepted is dropped while the queue runs:
 * {@link TraceQueue.offer} refuses up front instead; only {@link TraceQueue.stop}, when a shutdown
 * runs out of time, discards what is left (counted and logged).
 */
import type { Logger } from 'pino';
import { errorText } from '../shared/errors.ts';
import type { DecodedTraces } from './types.ts';

/**
 * Longest the queue evaluates in one turn of the event loop, ms: long enough to keep up with many
 * connections, short enough that requests waiting to be answered wait at most this.
 */
const SLICE_MS = 5;

/** Hands one accepted request to evaluation; a returned promise holds the queue until it settles. */
export type ProcessTraces = (decoded: DecodedTraces) => void | PromiseLike<void>;

/** Options of {@link TraceQueue} (checked by the receivers' options schema). */
export interface TraceQueueOptions {
  /** Most spans accepted and not yet processed. */
  readonly maxSpans: number;
  /**
   * Most estimated memory of the decoded requests accepted and not yet processed (their
   * {@link DecodedTraces.estimatedBytes}).
   */
  readonly maxBytes: number;
  /** Called with each accepted request, in order, one at a time. */
  readonly process: ProcessTraces;
  readonly logger: Logger;
}

/** The queue's figures, for health and metrics. */
export interface TraceQueueStats {
  /** Spans accepted and not yet processed (the one being processed included). */
  readonly spans: number;
  /** The estimated memory of their decoded requests. */
  readonly bytes: number;
  /** Requests waiting (the one being processed included). */
  readonly requests: number;
  readonly maxSpans: number;
  readonly maxBytes: number;
  /** Spans handed to `process` and finished with. */
  readonly processedSpans: number;
  /** Calls of `process` that threw or rejected (their spans count as processed: they are not retried). */
  readonly processFailures: number;
  /** Spans discarded unevaluated by {@link TraceQueue.stop} (a shutdown out of time). */
  readonly notEvaluated: number;
}

interface Entry {
  readonly decoded: DecodedTraces;
  readonly bytes: number;
}

/** A FIFO of accepted trace requests, bounded in spans and bytes, drained in slices of the event loop. */
export class TraceQueue {
  readonly #options: TraceQueueOptions;
  #entries: (Entry | undefined)[] = [];
  #head = 0;
  #spans = 0;
  #bytes = 0;
  #processed = 0;
  #failures = 0;
  #notEvaluated = 0;
  #stopped = false;
  #scheduled = false;
  #busy = false;
  #lastFailureLog = 0;
  /** Called with `true` when the queue empties, `false` when it is stopped first. */
  #idle: ((drained: boolean) => void)[] = [];

  constructor(options: TraceQueueOptions) {
    this.#options = options;
  }

  /** Whether a request of `spans` spans could ever be queued (when the queue is empty). */
  canHold(spans: number): boolean {
    return spans <= this.#options.maxSpans;
  }

  /** Whether not even one more span fits: receivers then refuse without reading the body. */
  isFull(): boolean {
    return this.#stopped || this.#spans >= this.#options.maxSpans || this.#bytes >= this.#options.maxBytes;
  }

  /**
   * Queues `decoded` when its spans and estimated bytes fit; `false` (nothing queued) when they do
   * not, or once the queue is stopped. A request of no spans is not queued (there is nothing to
   * evaluate or forward) and counts as accepted.
   */
  offer(decoded: DecodedTraces): boolean {
    const spans = decoded.spans.length;
    if (spans === 0) return true;
    if (this.#stopped) return false;
    const bytes = decoded.estimatedBytes;
    // An empty queue takes any request it can hold, whatever its size in bytes: the receivers'
    // body limit bounds one request, and a request must never be refused for ever.
    const empty = this.#spans === 0;
    if (this.#spans + spans > this.#options.maxSpans) return false;
    if (!empty && this.#bytes + bytes > this.#options.maxBytes) return false;
    this.#entries.push({ decoded, bytes });
    this.#spans += spans;
    this.#bytes += bytes;
    this.#schedule();
    return true;
  }

  /** The queue's figures. */
  stats(): TraceQueueStats {
    return {
      spans: this.#spans,
      bytes: this.#bytes,
      requests: this.#entries.length - this.#head + (this.#busy ? 1 : 0),
      maxSpans: this.#options.maxSpans,
      maxBytes: this.#options.maxBytes,
      processedSpans: this.#processed,
      processFailures: this.#failures,
      notEvaluated: this.#notEvaluated,
    };
  }

  /**
   * Resolves once everything accepted so far (and anything accepted meanwhile) has been processed,
   * `true`; or after `timeoutMs`, `false` (then {@link TraceQueue.stop} discards the rest).
   */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.#spans === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      let done = false;
      const finish = (drained: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(drained);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      this.#idle.push(finish);
    });
  }

  /**
   * Stops for good, once a shutdown has run out of time: the requests still waiting are discarded
   * (their spans counted in {@link TraceQueueStats.notEvaluated}, with one warning), and `process`
   * is never called again, so nothing is evaluated after telemetry has stopped. A call of `process`
   * in progress cannot be taken back; it finishes on its own. Later offers are refused.
   */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    let discarded = 0;
    let requests = 0;
    for (let entry = this.#take(); entry !== undefined; entry = this.#take()) {
      discarded += entry.decoded.spans.length;
      requests++;
      this.#spans -= entry.decoded.spans.length;
      this.#bytes -= entry.bytes;
    }
    this.#notEvaluated += discarded;
    if (discarded > 0 || this.#busy) {
      this.#options.logger.warn(
        { spans: discarded, requests, inProgress: this.#spans },
        `OTLP ingest queue not drained in time; ${discarded} accepted spans were discarded without evaluation`,
      );
    }
    // Whoever waits for the queue to drain waits no more: nothing more will be processed.
    const waiting = this.#idle;
    this.#idle = [];
    for (const wake of waiting) wake(false);
  }

  #schedule(): void {
    if (this.#stopped || this.#scheduled || this.#busy || this.#head >= this.#entries.length) return;
    this.#scheduled = true;
    // A slice of evaluation per turn of the event loop (see #next): requests keep being answered
    // while a backlog drains.
    setImmediate(() => this.#next());
  }

  #take(): Entry | undefined {
    const entry = this.#entries[this.#head];
    if (entry === undefined) return undefined;
    this.#entries[this.#head] = undefined;
    this.#head++;
    // Compact now and then, so the array does not grow with everything ever queued.
    if (this.#head >= 1024 && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
    return entry;
  }

  /**
   * Evaluates queued requests for up to {@link SLICE_MS}, then yields. One request per turn was too
   * little: with several connections more requests arrive per turn than one turn evaluated, the
   * queue filled and clients were sent away (429) while the process had time to spare.
   */
  #next(): void {
    this.#scheduled = false;
    const started = performance.now();
    while (!this.#stopped) {
      const entry = this.#take();
      if (entry === undefined) break;
      this.#busy = true;
      const result = this.#run(entry);
      if (result !== undefined) {
        // An asynchronous evaluation holds the queue until it settles.
        result.then(
          () => this.#done(entry),
          (error: unknown) => {
            this.#failed(error);
            this.#done(entry);
          },
        );
        return;
      }
      this.#finish(entry);
      if (performance.now() - started >= SLICE_MS) break;
    }
    this.#schedule();
  }

  /** Calls `process`; its promise when it returned one. */
  #run(entry: Entry): PromiseLike<void> | undefined {
    try {
      const result: unknown = this.#options.process(entry.decoded);
      const thenable =
        result !== null &&
        typeof result === 'object' &&
        typeof (result as PromiseLike<void>).then === 'function';
      return thenable ? (result as PromiseLike<void>) : undefined;
    } catch (error) {
      this.#failed(error);
      return undefined;
    }
  }

  #done(entry: Entry): void {
    this.#finish(entry);
    this.#schedule();
  }

  /** Counts `entry` as evaluated and wakes whoever waits for an empty queue. */
  #finish(entry: Entry): void {
    const spans = entry.decoded.spans.length;
    this.#spans -= spans;
    this.#bytes -= entry.bytes;
    this.#processed += spans;
    this.#busy = false;
    if (this.#spans === 0) {
      const waiting = this.#idle;
      this.#idle = [];
      for (const wake of waiting) wake(true);
    }
  }

  #failed(error: unknown): void {
    this.#failures++;
    // A failing evaluator fails on every request: one line a minute, not one per request.
    const now = Date.now();
    if (now - this.#lastFailureLog < 60_000) return;
    this.#lastFailureLog = now;
    this.#options.logger.error(
      { err: errorText(error), failures: this.#failures },
      'processing received spans failed; those spans were not evaluated',
    );
  }
}
