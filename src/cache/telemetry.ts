/**
 * The cache's OpenTelemetry: the observable instruments that report the cache's plain-integer
 * counters, and the spans around Redis round trips and factory runs. Names come from semconv.ts.
 *
 * The L1 hit path never touches OpenTelemetry: a `counter.add()` costs 60 to 600 ns, several times
 * an lru-cache get. Hits and misses are counted in integers and read by observable counters when a
 * metric reader collects. Spans exist only for Redis round trips and factory runs; no key, tag or
 * value is ever an attribute.
 */
import {
  type Attributes,
  type BatchObservableCallback,
  context,
  type Histogram,
  type Meter,
  metrics,
  type Observable,
  ROOT_CONTEXT,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { ATTR_DB_SYSTEM_NAME } from '@opentelemetry/semantic-conventions';
import { SCOPE_NAME, VERSION } from '../shared/scope.ts';
import { ATTR_PERF_OUTCOME, OUTCOME_ERROR, OUTCOME_OK } from '../telemetry/semconv.ts';
import { monotonicNow } from './clock.ts';
import {
  ATTR_CACHE_LEVEL,
  ATTR_CACHE_NAME,
  ATTR_CACHE_OPERATION,
  ATTR_CACHE_RESULT,
  CACHE_LEVEL_MEMORY,
  CACHE_LEVEL_REDIS,
  CACHE_RESULT_HIT,
  CACHE_RESULT_MISS,
  CACHE_RESULT_STALE,
  DB_SYSTEM_NAME_VALUE_REDIS,
  METRIC_CACHE_BREAKER_OPEN,
  METRIC_CACHE_ENTRIES,
  METRIC_CACHE_EVICTIONS,
  METRIC_CACHE_FACTORY_DURATION,
  METRIC_CACHE_LOOKUPS,
  METRIC_CACHE_REDIS_DURATION,
  METRIC_CACHE_SIZE,
  SPAN_CACHE_FACTORY,
  SPAN_CACHE_REDIS_PREFIX,
} from './semconv.ts';

/** Redis round trips the cache makes. */
export type RedisOperation =
  | 'read'
  | 'write'
  | 'delete'
  | 'invalidate'
  | 'versions'
  | 'clock'
  | 'read_many'
  | 'write_many'
  | 'lock';

/** Counters reported through the observable instruments. */
export interface CounterSnapshot {
  readonly memory: { readonly hits: number; readonly misses: number; readonly stale: number };
  readonly redis: { readonly hits: number; readonly misses: number; readonly stale: number };
  readonly evictions: number;
  readonly items: number;
  readonly bytes: number;
  readonly breakerOpen: boolean;
}

/** The root context with tracing suppressed. */
const SUPPRESSED_ROOT = suppressTracing(ROOT_CONTEXT);

const REDIS_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];
const FACTORY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const OPERATIONS: readonly RedisOperation[] = [
  'read',
  'write',
  'delete',
  'invalidate',
  'versions',
  'clock',
  'read_many',
  'write_many',
  'lock',
];

/** One cache's instruments and spans. */
export class CacheTelemetry {
  readonly #tracer: Tracer;
  readonly #meter: Meter;
  readonly #redisDuration: Histogram;
  readonly #factoryDuration: Histogram;
  readonly #observables: Observable[];
  readonly #callback: BatchObservableCallback;
  /** Attribute sets built once, so recording allocates none. */
  readonly #redisAttributes: Record<RedisOperation, { ok: Attributes; error: Attributes }>;
  readonly #factoryAttributes: { ok: Attributes; error: Attributes };
  /** Span names and options of each operation, made once so that a round trip allocates none. */
  readonly #spanNames: Record<RedisOperation, string>;
  readonly #spanOptions: Record<RedisOperation, SpanOptions>;
  readonly #name: Attributes;

  constructor(name: string, meter: Meter | undefined, snapshot: () => CounterSnapshot) {
    this.#tracer = trace.getTracer(SCOPE_NAME, VERSION);
    this.#meter = meter ?? metrics.getMeter(SCOPE_NAME, VERSION);
    const named = (extra: Attributes): Attributes => Object.freeze({ [ATTR_CACHE_NAME]: name, ...extra });
    this.#name = named({});
    this.#redisAttributes = Object.fromEntries(
      OPERATIONS.map((op) => [
        op,
        {
          ok: named({ [ATTR_CACHE_OPERATION]: op, [ATTR_PERF_OUTCOME]: OUTCOME_OK }),
          error: named({ [ATTR_CACHE_OPERATION]: op, [ATTR_PERF_OUTCOME]: OUTCOME_ERROR }),
        },
      ]),
    ) as Record<RedisOperation, { ok: Attributes; error: Attributes }>;
    this.#spanNames = Object.fromEntries(
      OPERATIONS.map((op) => [op, `${SPAN_CACHE_REDIS_PREFIX}${op}`]),
    ) as Record<RedisOperation, string>;
    this.#spanOptions = Object.fromEntries(
      OPERATIONS.map((op) => [
        op,
        Object.freeze({
          kind: SpanKind.CLIENT,
          attributes: named({
            [ATTR_CACHE_OPERATION]: op,
            [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_REDIS,
          }),
        }),
      ]),
    ) as Record<RedisOperation, SpanOptions>;
    this.#factoryAttributes = {
      ok: named({ [ATTR_PERF_OUTCOME]: OUTCOME_OK }),
      error: named({ [ATTR_PERF_OUTCOME]: OUTCOME_ERROR }),
    };
    this.#redisDuration = this.#meter.createHistogram(METRIC_CACHE_REDIS_DURATION, {
      description: 'Cache Redis round trips',
      unit: 's',
      advice: { explicitBucketBoundaries: REDIS_BUCKETS },
    });
    this.#factoryDuration = this.#meter.createHistogram(METRIC_CACHE_FACTORY_DURATION, {
      description: 'Cache factory runs (getOrSet misses)',
      unit: 's',
      advice: { explicitBucketBoundaries: FACTORY_BUCKETS },
    });
    const lookups = this.#meter.createObservableCounter(METRIC_CACHE_LOOKUPS, {
      description: 'Cache lookups by level and result',
      unit: '{lookup}',
    });
    const evictions = this.#meter.createObservableCounter(METRIC_CACHE_EVICTIONS, {
      description: 'Memory-cache entries evicted to stay within maxItems or maxBytes',
      unit: '{entry}',
    });
    const entries = this.#meter.createObservableGauge(METRIC_CACHE_ENTRIES, {
      description: 'Entries in the memory cache',
      unit: '{entry}',
    });
    const size = this.#meter.createObservableGauge(METRIC_CACHE_SIZE, {
      description: 'Serialized bytes in the memory cache',
      unit: 'By',
    });
    const breaker = this.#meter.createObservableGauge(METRIC_CACHE_BREAKER_OPEN, {
      description: '1 while the Redis circuit breaker is open or probing, else 0',
    });
    const lookupAttributes = (level: string, result: string) =>
      named({ [ATTR_CACHE_LEVEL]: level, [ATTR_CACHE_RESULT]: result });
    const lookupAttributesOf = (level: string) => ({
      hit: lookupAttributes(level, CACHE_RESULT_HIT),
      miss: lookupAttributes(level, CACHE_RESULT_MISS),
      stale: lookupAttributes(level, CACHE_RESULT_STALE),
    });
    const levels = {
      memory: lookupAttributesOf(CACHE_LEVEL_MEMORY),
      redis: lookupAttributesOf(CACHE_LEVEL_REDIS),
    };
    this.#callback = (result) => {
      const s = snapshot();
      for (const level of ['memory', 'redis'] as const) {
        result.observe(lookups, s[level].hits, levels[level].hit);
        result.observe(lookups, s[level].misses, levels[level].miss);
        result.observe(lookups, s[level].stale, levels[level].stale);
      }
      result.observe(evictions, s.evictions, this.#name);
      result.observe(entries, s.items, this.#name);
      result.observe(size, s.bytes, this.#name);
      result.observe(breaker, s.breakerOpen ? 1 : 0, this.#name);
    };
    this.#observables = [lookups, evictions, entries, size, breaker];
    this.#meter.addBatchObservableCallback(this.#callback, this.#observables);
  }

  /**
   * Runs one Redis round trip inside a CLIENT span `cache.redis.<operation>` and records its
   * duration. The ioredis instrumentation is suppressed inside: this span already describes the
   * round trip, and a second span per command would double the cost and the noise.
   */
  async roundTrip<T>(operation: RedisOperation, fn: () => Promise<T>): Promise<T> {
    const span = this.#tracer.startSpan(this.#spanNames[operation], this.#spanOptions[operation]);
    const started = monotonicNow();
    try {
      // Contexts are copied on every change, so as few are made as can be: outside any span (the
      // usual case for background work) the suppressed root is reused, and a span that records
      // nothing (no tracer provider, or not sampled) is not put in one: with tracing suppressed
      // inside, no span can start there to be its child.
      const active = context.active();
      const suppressed = active === ROOT_CONTEXT ? SUPPRESSED_ROOT : suppressTracing(active);
      const inner = span.isRecording() ? trace.setSpan(suppressed, span) : suppressed;
      const result = await context.with(inner, fn);
      this.#redisDuration.record((monotonicNow() - started) / 1000, this.#redisAttributes[operation].ok);
      return result;
    } catch (error) {
      this.#redisDuration.record((monotonicNow() - started) / 1000, this.#redisAttributes[operation].error);
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: error instanceof Error ? error.message : 'failed',
      });
      throw error;
    } finally {
      span.end();
    }
  }

  /**
   * Runs a factory inside an active span `cache.factory` (its own spans, such as database queries,
   * become children) and records its duration.
   */
  async factory<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#tracer.startActiveSpan(SPAN_CACHE_FACTORY, { attributes: this.#name }, async (span) => {
      const started = monotonicNow();
      try {
        const value = await fn();
        this.#factoryDuration.record((monotonicNow() - started) / 1000, this.#factoryAttributes.ok);
        return value;
      } catch (error) {
        this.#factoryDuration.record((monotonicNow() - started) / 1000, this.#factoryAttributes.error);
        if (error instanceof Error) span.recordException(error);
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: error instanceof Error ? error.message : 'failed',
        });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  /** Stops reporting this cache's observable metrics. */
  close(): void {
    this.#meter.removeBatchObservableCallback(this.#callback, this.#observables);
  }
}
