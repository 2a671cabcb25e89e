/**
 * The resource series (`GET /api/system/resources/series`): one service's runtime figures per
 * minute over the last `hours` (at most 24), from the system history (`system-history.ts`), with
 * the memory and CPU alert thresholds to draw against. Only minutes with figures are points.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../shared/errors.ts';
import { roundTo } from '../shared/numbers.ts';
import { accepts, parseOptions, serviceName } from '../shared/options.ts';
import { MINUTE_MS } from './minutes.ts';
import type { SystemMinute } from './system-ring.ts';
import type { Telemetry } from './types.ts';

/** Longest window of a resource series, hours: what the history holds. */
export const MAX_RESOURCE_SERIES_HOURS = 24;
/** Window of a resource series when `hours` is absent. */
export const DEFAULT_RESOURCE_SERIES_HOURS = 1;

const HOURS_FORM = `a whole number of hours from 1 to ${MAX_RESOURCE_SERIES_HOURS}`;

/** The accepted form of each field, for the HTTP layer's errors on text that is not a number. */
export const RESOURCE_SERIES_FIELD_FORMS = { hours: HOURS_FORM } as const;

const resourceSeriesFields = {
  /** A service with runtime figures: the own one (default) or one the sidecar receives. */
  service: serviceName().optional(),
  /** Window length, whole hours; default 1. */
  hours: accepts(z.number().int().min(1).max(MAX_RESOURCE_SERIES_HOURS), HOURS_FORM).default(
    DEFAULT_RESOURCE_SERIES_HOURS,
  ),
};

/** What to draw the runtime figures of. */
export interface ResourceSeriesQuery {
  /** A service by its recorded name; default the own service. */
  readonly service?: string;
  /** Window length, whole hours from 1 to 24. Default 1. */
  readonly hours?: number;
}

/** The cache figures of a point: hit rates per level over its minute. */
export interface ResourceCachePoint {
  /** Memory-level hits / (hits + misses), as the cache's own `hit_rate`; `null` without lookups. */
  readonly memory_hit_rate: number | null;
  /** Redis-level hits / (hits + misses); `null` without Redis lookups. */
  readonly redis_hit_rate: number | null;
  /** Hits and misses at both levels (a get that misses memory and reads Redis is one of each). */
  readonly lookups: number;
}

/** The pool figures of a point: connections at the minute's latest collection, over every pool. */
export interface ResourcePoolPoint {
  readonly used: number;
  readonly idle: number;
  /** Requests waiting for a connection. */
  readonly waiting: number;
}

/** One minute of runtime figures; `null` where the service reported none that minute. */
export interface ResourcePoint {
  /** Start of the minute (ISO 8601). */
  readonly t: string;
  /** Largest resident set size of the minute, MiB. */
  readonly rss_mb: number | null;
  /** Largest heap in use of the minute, MiB. */
  readonly heap_mb: number | null;
  /** Mean CPU of the minute, percent of one core. */
  readonly cpu_percent: number | null;
  /** Largest event-loop delay p99 of the minute, ms. */
  readonly event_loop_delay_p99_ms: number | null;
  /** Mean event-loop utilisation of the minute, 0 to 1. */
  readonly event_loop_utilization: number | null;
  /** `null` when no cache reported that minute, and always for a received service. */
  readonly cache: ResourceCachePoint | null;
  /** `null` when no database pool reported that minute, and always for a received service. */
  readonly db_pool: ResourcePoolPoint | null;
}

/** The series. */
export interface ResourceSeries {
  /** The service drawn: the own one unless the query named another. */
  readonly service: string;
  readonly hours: number;
  /** Seconds per point: 60. */
  readonly step_seconds: 60;
  /** Start of the window (ISO 8601, whole minute). */
  readonly from: string;
  /** End of the window: now (ISO 8601). */
  readonly to: string;
  /** The alert thresholds the figures are held to. */
  readonly thresholds: {
    /** `high_memory` past this RSS, MiB (`MEMORY_ALERT_THRESHOLD`). */
    readonly memory_mb: number;
    /** `high_cpu` past this CPU, sustained, percent of one core (`CPU_ALERT_THRESHOLD`). */
    readonly cpu_percent: number;
  };
  /** Minutes with figures, oldest first. */
  readonly points: readonly ResourcePoint[];
}

/**
 * Checks a resource series query, each field named alone (as the HTTP API's query parameters are).
 *
 * @throws {InvalidArgumentError} naming `query`, `service` or `hours`, what was wrong and the
 * accepted form.
 */
export function checkResourceSeriesQuery(query: unknown): {
  readonly service: string | undefined;
  readonly hours: number;
} {
  if (query === null || typeof query !== 'object') {
    throw new InvalidArgumentError('query', 'is not an object', 'an object { service?, hours? }');
  }
  const q = query as Record<string, unknown>;
  return {
    service: parseOptions(resourceSeriesFields.service, q.service, { argument: 'service' }),
    hours: parseOptions(resourceSeriesFields.hours, q.hours, { argument: 'hours' }),
  };
}

/**
 * The resource series of a given telemetry (the sidecar's app passes its own): see the module
 * comment. A service without runtime figures in the window has no points, whether it exports spans
 * only or this process has not heard of it: the summary and the performance series answer such a
 * service with no data too, since services are also known from the Redis rollups (written before a
 * restart, or by another instance) that this process's history does not hold.
 *
 * @throws {InvalidArgumentError} on a bad query, naming the field.
 */
export async function resourceSeriesOf(
  telemetry: Telemetry,
  query: ResourceSeriesQuery = {},
): Promise<ResourceSeries> {
  const q = checkResourceSeriesQuery(query);
  const own = telemetry.services.own;
  const service = q.service ?? own;
  const now = Date.now();
  const toMinute = Math.floor(now / MINUTE_MS);
  const fromMinute = toMinute - q.hours * 60 + 1;
  const minutes = await telemetry.systemHistory.minutes(service, fromMinute, toMinute);
  // The own service is held to the sampler's thresholds (the middleware may set its own), the
  // received ones to the configured thresholds, as their alerts are.
  const thresholds = service === own ? telemetry.resources.thresholds : telemetry.config;
  return {
    service,
    hours: q.hours,
    step_seconds: 60,
    from: new Date(fromMinute * MINUTE_MS).toISOString(),
    to: new Date(now).toISOString(),
    thresholds: {
      memory_mb: thresholds.memoryAlertThresholdMb,
      cpu_percent: thresholds.cpuAlertThresholdPercent,
    },
    points: minutes.map(pointOf),
  };
}

function pointOf(m: SystemMinute): ResourcePoint {
  const { cache, pool } = m;
  return {
    t: new Date(m.minute * MINUTE_MS).toISOString(),
    rss_mb: rounded(m.rssMb, 2),
    heap_mb: rounded(m.heapMb, 2),
    cpu_percent: rounded(m.cpuPercent, 2),
    event_loop_delay_p99_ms: rounded(m.eventLoopDelayP99Ms, 3),
    event_loop_utilization: rounded(m.eventLoopUtilization, 4),
    cache: cache && {
      memory_hit_rate: cache.memoryLookups > 0 ? roundTo(cache.memoryHits / cache.memoryLookups, 4) : null,
      redis_hit_rate: cache.redisLookups > 0 ? roundTo(cache.redisHits / cache.redisLookups, 4) : null,
      lookups: cache.memoryLookups + cache.redisLookups,
    },
    db_pool: pool && { used: pool.used, idle: pool.idle, waiting: pool.waiting },
  };
}

function rounded(value: number | null, digits: number): number | null {
  return value === null ? null : roundTo(value, digits);
}
