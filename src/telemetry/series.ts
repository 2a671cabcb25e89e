/**
 * The performance series (`GET /api/system/performance/series`): one operation of one service over
 * a window of whole hours, as points of `step` minutes, drawn from the same data as the summary
 * (`report.ts`): with Redis rollups, every instance's stored minutes plus this process's unsaved
 * ones; else (or when Redis cannot be read) this process's per-minute windows.
 *
 * The window is the summary's (the last `hours` × 60 minutes, the current one included), cut into
 * `hours × 60 / step` points from its start, so the last point ends with the current minute and the
 * points add up to the summary of the same `hours`. Every point is there, empty ones with count 0
 * and `null` durations, so a chart has a continuous axis.
 */

import { errorText } from '../shared/errors.ts';
import { roundTo } from '../shared/numbers.ts';
import {
  breachesOf,
  type DurationAggregate,
  emptyAggregate,
  mergeAggregate,
  reportQuantiles,
} from './aggregate.ts';
import { MINUTE_MS, type Minute } from './minutes.ts';
import { cachedRead } from './report.ts';
import type { RedisRollupStore, RollupMinutes } from './rollup.ts';
import { checkSeriesQuery, type PerformanceSeriesQuery } from './series-query.ts';
import { resolveTarget } from './targets.ts';
import type { Telemetry } from './types.ts';

export type { PerformanceSeriesQuery } from './series-query.ts';

/** One point: the runs collected in its `step` minutes (a run counts when it ends). Durations in seconds. */
export interface SeriesPoint {
  /** First minute of the point (ISO 8601). */
  readonly t: string;
  readonly count: number;
  readonly errors: number;
  /** Runs over the target (counted by the target processor). */
  readonly breaches: number;
  /** `null` when the point has no runs (as are the other durations). */
  readonly p50_s: number | null;
  readonly p95_s: number | null;
  readonly p99_s: number | null;
  readonly max_s: number | null;
}

/** The series. */
export interface PerformanceSeries {
  readonly operation: string;
  /** The service drawn: the own one unless the query named another. */
  readonly service: string;
  /** Minutes per point. */
  readonly step_minutes: number;
  /** Start of the window: the first point's `t` (ISO 8601, whole minute). */
  readonly from: string;
  /** End of the window: now (ISO 8601). */
  readonly to: string;
  /** The operation's target, seconds; `null` when unknown. */
  readonly target_s: number | null;
  /** `redis` (all instances, survives restarts) or `memory` (this process only). */
  readonly source: 'redis' | 'memory';
  /** `hours × 60 / step` points, oldest first, empty ones included. */
  readonly points: readonly SeriesPoint[];
  /** Why the series may be incomplete (for example Redis unreachable). */
  readonly warnings: readonly string[];
}

/** What a minute of data offers a series: the own service's operations and other services'. */
interface MinuteData {
  readonly minute: Minute;
  readonly operations: ReadonlyMap<string, DurationAggregate>;
  readonly services?: ReadonlyMap<string, { readonly operations: ReadonlyMap<string, DurationAggregate> }>;
}

/**
 * The series of a given telemetry (the sidecar's app passes its own): see the module comment.
 *
 * @throws {InvalidArgumentError} on a bad query, naming the field.
 */
export async function performanceSeriesOf(
  telemetry: Telemetry,
  query: PerformanceSeriesQuery,
): Promise<PerformanceSeries> {
  const q = checkSeriesQuery(query);
  const own = telemetry.services.own;
  const service = q.service ?? own;
  // The own service's figures are the unscoped ones, in memory and in Redis (as in the summary).
  const scoped = service === own ? undefined : service;
  const now = Date.now();
  const toMinute = Math.floor(now / MINUTE_MS);
  const fromMinute = toMinute - q.hours * 60 + 1;
  const buckets: (DurationAggregate | undefined)[] = new Array((q.hours * 60) / q.step).fill(undefined);
  const add = (minute: Minute, agg: DurationAggregate | undefined) => {
    if (!agg || agg.count <= 0 || minute < fromMinute || minute > toMinute) return;
    const i = Math.floor((minute - fromMinute) / q.step);
    // A fresh aggregate per point: what is merged in may be shared (windows, the read cache).
    let into = buckets[i];
    if (!into) {
      into = emptyAggregate(agg.breaches !== undefined);
      buckets[i] = into;
    }
    mergeAggregate(into, agg);
  };
  const addMinute = (m: MinuteData) =>
    add(
      m.minute,
      scoped === undefined
        ? m.operations.get(q.operation)
        : m.services?.get(scoped)?.operations.get(q.operation),
    );

  await telemetry.windows.collect();
  const warnings: string[] = [];
  let source: 'redis' | 'memory' = 'memory';
  let storedTarget: number | undefined;
  const fromMemory = () => {
    for (const slot of telemetry.windows.minutes(fromMinute, toMinute)) addMinute(slot);
  };
  if (telemetry.rollups && telemetry.rollupExporter) {
    try {
      const { stored, unsaved } = await readRedis(telemetry, q.operation, scoped, fromMinute, toMinute);
      for (const [minute, agg] of stored.minutes) add(minute, agg);
      for (const minute of unsaved) addMinute(minute);
      storedTarget = stored.target;
      source = 'redis';
    } catch (error) {
      fromMemory();
      warnings.push(
        `redis rollups unavailable (${errorText(error)}); the series covers this process's memory only`,
      );
    }
  } else {
    fromMemory();
  }

  const target =
    telemetry.evaluator.targetOf(q.operation, scoped) ??
    storedTarget ??
    (scoped === undefined ? resolveTarget(telemetry.targets, q.operation, undefined, undefined) : undefined);
  const points = buckets.map((agg, i) => pointOf(fromMinute + i * q.step, agg, target));
  return {
    operation: q.operation,
    service,
    step_minutes: q.step,
    from: new Date(fromMinute * MINUTE_MS).toISOString(),
    to: new Date(now).toISOString(),
    target_s: target ?? null,
    source,
    points,
    warnings,
  };
}

/**
 * The stored minutes of every instance and this process's minutes not yet written, read in the
 * same state of Redis (as the summary reads them): the unsaved minutes are snapshot with no write
 * running, and read again if a write started during the Redis read, so no minute counts twice.
 *
 * @throws when Redis cannot be read (the caller falls back to memory).
 */
async function readRedis(
  telemetry: Telemetry,
  operation: string,
  scoped: string | undefined,
  fromMinute: Minute,
  toMinute: Minute,
): Promise<{ stored: RollupMinutes; unsaved: readonly MinuteData[] }> {
  const rollups = telemetry.rollups as RedisRollupStore;
  const exporter = telemetry.rollupExporter as NonNullable<Telemetry['rollupExporter']>;
  let stored: RollupMinutes | undefined;
  let unsaved: readonly MinuteData[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    await exporter.settled();
    if (exporter.writing) continue;
    const epoch = exporter.writeEpoch;
    unsaved = [...exporter.pending(fromMinute)];
    // Shared with identical queries while the rollups do not change and queued behind the
    // summary's reads, so a dashboard polling the series cannot multiply the load on Redis.
    const key = `${epoch}|series|${fromMinute}|${toMinute}|${JSON.stringify([scoped ?? null, operation])}`;
    stored = await cachedRead(
      rollups,
      key,
      () => rollups.readMinutes(operation, scoped, fromMinute, toMinute),
      (read) => read.minutes.size,
    );
    if (exporter.writeEpoch === epoch) break;
  }
  if (!stored) throw new Error('the rollup store was busy writing for three attempts');
  return { stored, unsaved };
}

function pointOf(
  minute: Minute,
  agg: DurationAggregate | undefined,
  target: number | undefined,
): SeriesPoint {
  const t = new Date(minute * MINUTE_MS).toISOString();
  if (!agg)
    return { t, count: 0, errors: 0, breaches: 0, p50_s: null, p95_s: null, p99_s: null, max_s: null };
  const [p50, p95, p99] = reportQuantiles(agg);
  return {
    t,
    count: agg.count,
    errors: agg.errors,
    breaches: breachesOf(agg, target),
    p50_s: roundOrNull(p50),
    p95_s: roundOrNull(p95),
    p99_s: roundOrNull(p99),
    max_s: roundTo(agg.max, 6),
  };
}

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : roundTo(value, 6);
}
