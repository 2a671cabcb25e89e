/**
 * Cache hit rates and database pool use, read from a collection of the telemetry's own metrics
 * rather than from the cache and the database service: the telemetry knows neither part, only the
 * names of what they record (their `semconv.ts`).
 *
 * What is read, as the parts record it:
 * - `perf.cache.lookups`: an observable counter per cache (`cache.name`), by `cache.level`
 *   (`memory`, `redis`) and `cache.result` (`hit`, `miss`, `stale`). Hits and misses are the
 *   lookups, as in the cache's own `hit_rate`: a stale value served after a miss is already
 *   counted as that miss, so `stale` is left out. The collection is cumulative (the Prometheus
 *   reader's), so {@link LookupDeltas} turns it into lookups since the previous collection, series
 *   by series.
 * - `perf.db.pool.connections`: an observable gauge per pool, by `db.client.connection.state`
 *   (`used`, `idle`); `perf.db.pool.waiting`: an observable gauge per pool. Summed over the pools.
 */
import { DataPointType, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  ATTR_CACHE_LEVEL,
  ATTR_CACHE_NAME,
  ATTR_CACHE_RESULT,
  CACHE_LEVEL_MEMORY,
  CACHE_LEVEL_REDIS,
  CACHE_RESULT_HIT,
  CACHE_RESULT_MISS,
  METRIC_CACHE_LOOKUPS,
} from '../cache/semconv.ts';
import {
  ATTR_DB_CLIENT_CONNECTION_STATE,
  CONNECTION_STATE_IDLE,
  CONNECTION_STATE_USED,
  METRIC_PERF_DB_POOL_CONNECTIONS,
  METRIC_PERF_DB_POOL_WAITING,
} from '../db/semconv.ts';
import type { CacheLookups, PoolUse } from './system-ring.ts';

/** One cumulative lookup series: a cache, a level, a result (a hit or a miss). */
export interface LookupSeries {
  readonly level: 'memory' | 'redis';
  /** Whether the series counts hits (else misses). */
  readonly hit: boolean;
  /** Lookups counted since the cache began. */
  readonly value: number;
}

/** What one collection says about caches and pools. */
export interface SystemMetrics {
  /** Cumulative lookups by series key; `undefined` when no cache reports lookups. */
  readonly lookups: ReadonlyMap<string, LookupSeries> | undefined;
  /** Pool use summed over the pools; `undefined` when no pool reports. */
  readonly pool: PoolUse | undefined;
}

/** Reads {@link SystemMetrics} out of one collection (every scope; instruments are matched by name). */
export function readSystemMetrics(collected: ResourceMetrics): SystemMetrics {
  let lookups: Map<string, LookupSeries> | undefined;
  let used: number | undefined;
  let idle: number | undefined;
  let waiting: number | undefined;
  for (const scope of collected.scopeMetrics) {
    for (const metric of scope.metrics) {
      const name = metric.descriptor.name;
      if (name === METRIC_CACHE_LOOKUPS) {
        lookups ??= new Map();
        for (const { attributes, value } of numberPoints(metric)) {
          const level = attributes[ATTR_CACHE_LEVEL];
          const result = attributes[ATTR_CACHE_RESULT];
          if (level !== CACHE_LEVEL_MEMORY && level !== CACHE_LEVEL_REDIS) continue;
          if (result !== CACHE_RESULT_HIT && result !== CACHE_RESULT_MISS) continue;
          const key = `${String(attributes[ATTR_CACHE_NAME])}\u0000${level}\u0000${result}`;
          lookups.set(key, { level, hit: result === CACHE_RESULT_HIT, value });
        }
      } else if (name === METRIC_PERF_DB_POOL_CONNECTIONS) {
        for (const { attributes, value } of numberPoints(metric)) {
          const state = attributes[ATTR_DB_CLIENT_CONNECTION_STATE];
          if (state === CONNECTION_STATE_USED) used = (used ?? 0) + value;
          else if (state === CONNECTION_STATE_IDLE) idle = (idle ?? 0) + value;
        }
      } else if (name === METRIC_PERF_DB_POOL_WAITING) {
        for (const { value } of numberPoints(metric)) waiting = (waiting ?? 0) + value;
      }
    }
  }
  const pool =
    used === undefined && idle === undefined && waiting === undefined
      ? undefined
      : { used: used ?? 0, idle: idle ?? 0, waiting: waiting ?? 0 };
  return { lookups, pool };
}

/** The number data points of a sum or gauge (none for a histogram: not what these instruments are). */
function numberPoints(metric: MetricData): readonly { attributes: MetricAttributes; value: number }[] {
  if (metric.dataPointType !== DataPointType.SUM && metric.dataPointType !== DataPointType.GAUGE) return [];
  return metric.dataPoints.filter((point) => Number.isFinite(point.value));
}

type MetricAttributes = MetricData['dataPoints'][number]['attributes'];

/**
 * Turns cumulative lookup counts into lookups since the previous collection. Each series is
 * compared with its own previous count: a cache that appears counts from 0, one whose count went
 * down (closed and made again under the same name) counts from 0 again, and one that is gone is
 * forgotten. The previous counts held are those of the last collection only, so they are bounded
 * by the SDK's cardinality limit of the instrument.
 */
export class LookupDeltas {
  #previous: ReadonlyMap<string, LookupSeries> = new Map();

  /** Lookups since the previous call, per level; `undefined` when no cache reports lookups. */
  next(lookups: ReadonlyMap<string, LookupSeries> | undefined): CacheLookups | undefined {
    if (lookups === undefined) {
      this.#previous = new Map();
      return undefined;
    }
    const totals = { memoryHits: 0, memoryLookups: 0, redisHits: 0, redisLookups: 0 };
    for (const [key, series] of lookups) {
      const before = this.#previous.get(key)?.value ?? 0;
      const delta = series.value >= before ? series.value - before : series.value;
      if (series.level === 'memory') {
        totals.memoryLookups += delta;
        if (series.hit) totals.memoryHits += delta;
      } else {
        totals.redisLookups += delta;
        if (series.hit) totals.redisHits += delta;
      }
    }
    this.#previous = lookups;
    return totals;
  }
}
