/**
 * The performance report (`GET /api/system/performance`, `getPerformanceReport()`): operations,
 * HTTP routes, system figures and alert counts over a window of whole hours, computed from the
 * per-minute windows over the metric readers and, with Redis, from the rollup hashes of every
 * instance. Of the own service by default, of any service the sidecar receives spans from with
 * `service`; with the list of every service seen in the window.
 */

import { errorText } from '../shared/errors.ts';
import { roundTo } from '../shared/numbers.ts';
import type { BudgetFigures } from '../slo/index.ts';
import { type ActivityByService, activitiesOf, activityOfService, mergeActivities } from './activity.ts';
import { apdexOf, breachesOf, type DurationAggregate, quantile, reportQuantiles } from './aggregate.ts';
import { addTotals, emptyTotals, MINUTE_MS, serviceTotalsOf, type WindowTotals } from './minutes.ts';
import { type CheckedQuery, checkReportQuery, type PerformanceReportQuery } from './report-query.ts';
import { runtimeSystemReport, type SystemReport, systemReport } from './report-system.ts';
import type { RedisRollupStore, RollupQuery, RollupTotals } from './rollup.ts';
import { getTelemetry } from './sdk.ts';
import { resolveTarget } from './targets.ts';
import type { Telemetry } from './types.ts';

export {
  checkReportQuery,
  DEFAULT_REPORT_HOURS,
  MAX_REPORT_HOURS,
  type PerformanceReportQuery,
  reportQuerySchema,
} from './report-query.ts';
export type { DiskReport, SystemReport } from './report-system.ts';

/** One operation over the window. Durations in seconds; `null` when there were no operations. */
export interface OperationReport {
  readonly count: number;
  readonly errors: number;
  readonly mean_s: number | null;
  readonly p50_s: number | null;
  readonly p95_s: number | null;
  readonly p99_s: number | null;
  readonly max_s: number | null;
  /** Target, seconds; `null` when unknown. */
  readonly target_s: number | null;
  readonly breaches: number;
  /** breaches / count. */
  readonly breach_rate: number;
  /** Apdex with T = target (tolerated up to 4T); `null` without a target. */
  readonly apdex: number | null;
  /**
   * The operation's error budget over its own period (not the report's window), as judged at the
   * last minute's evaluation; absent for an operation without a target or before its first
   * evaluation. A user filter does not apply to it.
   */
  readonly slo?: BudgetFigures;
}

/** One service in the report's list of services, over the window. */
export interface ServiceReport {
  /** Whether it is the sidecar's own service. */
  readonly own: boolean;
  /** Operations that ran. */
  readonly operations: number;
  /** Runs of those operations. */
  readonly runs: number;
  /** Of which failed. */
  readonly errors: number;
  /** Of which took longer than their target. */
  readonly breaches: number;
  /** Whether it has runtime figures (`system`): always for the own service. */
  readonly runtime: boolean;
}

/** One `METHOD route` over the window (this process only). */
export interface HttpRouteReport {
  readonly count: number;
  /** Responses with status >= 500 or a transport error. */
  readonly errors: number;
  readonly p95_s: number | null;
}

/** The report. */
export interface PerformanceReport {
  readonly window: {
    readonly hours: number;
    /** Start of the window (ISO 8601, whole minute). */
    readonly from: string;
    /** End of the window: now (ISO 8601). */
    readonly to: string;
    /** First minute that has data (ISO 8601), `null` when none: windows longer than the data. */
    readonly data_from: string | null;
    /** `redis` (all instances, survives restarts) or `memory` (this process only). */
    readonly source: 'redis' | 'memory';
  };
  /** The service reported on: the own one unless the query named another. */
  readonly service: string;
  /** Filters applied. */
  readonly filter: {
    readonly operation: string | null;
    readonly user_id: string | null;
    readonly service: string | null;
  };
  /** Per operation name (of {@link service}). */
  readonly operations: Record<string, OperationReport>;
  /** Per `METHOD route` (of {@link service}), this process only. */
  readonly http: Record<string, HttpRouteReport>;
  /** Latest resource figures of {@link service} (all `null` for a service that exported none). */
  readonly system: SystemReport;
  /** Alerts raised by this process in the window, per type (before deduplication). */
  readonly alerts: Record<string, number>;
  /**
   * Every service seen in the window (and the own one always), by recorded name, whatever the
   * filters: what `?service=` can ask for.
   */
  readonly services: Record<string, ServiceReport>;
  /** Why parts of the report may be incomplete (for example Redis unreachable). */
  readonly warnings: readonly string[];
}

/**
 * The performance report of the running telemetry (see {@link PerformanceReport}).
 *
 * @throws {InvalidArgumentError} on a bad query.
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` before `startTelemetry()`.
 */
export async function getPerformanceReport(query?: PerformanceReportQuery): Promise<PerformanceReport> {
  return buildReport(getTelemetry(), checkReportQuery(query));
}

/**
 * The performance report of a given telemetry (the sidecar's app passes its own), same as
 * {@link getPerformanceReport}.
 *
 * @throws {InvalidArgumentError} on a bad query.
 */
export function performanceReportOf(
  telemetry: Telemetry,
  query?: PerformanceReportQuery,
): Promise<PerformanceReport> {
  return buildReport(telemetry, checkReportQuery(query));
}

/** What the report's figures come from: merged operations, stored targets, activity, source. */
interface Figures {
  operations: Map<string, DurationAggregate>;
  targets: Map<string, number>;
  activity: ActivityByService;
  firstMinute: number | undefined;
  source: 'redis' | 'memory';
}

async function buildReport(telemetry: Telemetry, query: CheckedQuery): Promise<PerformanceReport> {
  const { windows } = telemetry;
  const own = telemetry.services.own;
  const service = query.service ?? own;
  // The own service's figures are the unscoped ones (in memory and in Redis), as they always were.
  const scoped = service === own ? undefined : service;
  const now = Date.now();
  const toMinute = Math.floor(now / MINUTE_MS);
  const fromMinute = toMinute - query.hours * 60 + 1;
  await windows.collect();
  const memory = windows.totals(fromMinute, toMinute);
  const part = serviceTotalsOf(memory, scoped);
  const warnings: string[] = [];
  const fromMemory = (): Figures => ({
    operations: query.userId !== undefined ? new Map(part.users.get(query.userId) ?? []) : part.operations,
    targets: new Map(),
    activity: activitiesOf(memory),
    firstMinute: memory.firstMinute,
    source: 'memory',
  });

  let figures: Figures;
  if (telemetry.rollups && telemetry.rollupExporter) {
    try {
      figures = await fromRedis(telemetry, query, scoped, fromMinute, toMinute, memory.firstMinute);
    } catch (error) {
      figures = fromMemory();
      warnings.push(
        `redis rollups unavailable (${errorText(error)}); operations cover this process's memory only`,
      );
    }
  } else {
    figures = fromMemory();
  }

  const out: Record<string, OperationReport> = {};
  const names = [...figures.operations.keys()]
    .filter((op) => query.operation === undefined || op === query.operation)
    .sort();
  for (const op of names) {
    const agg = figures.operations.get(op) as DurationAggregate;
    const target =
      telemetry.evaluator.targetOf(op, scoped) ??
      figures.targets.get(op) ??
      (scoped === undefined ? resolveTarget(telemetry.targets, op, undefined, undefined) : undefined);
    const budget = telemetry.budgets?.figures(op, scoped);
    out[op] = budget ? { ...operationReport(agg, target), slo: budget } : operationReport(agg, target);
  }

  const http: Record<string, HttpRouteReport> = {};
  for (const key of [...part.http.keys()].sort()) {
    const agg = part.http.get(key) as DurationAggregate;
    http[key] = { count: agg.count, errors: agg.errors, p95_s: roundOrNull(quantile(agg, 0.95)) };
  }
  const alerts: Record<string, number> = {};
  for (const [type, n] of [...memory.alerts].sort(([a], [b]) => a.localeCompare(b))) alerts[type] = n;
  const runtime = scoped === undefined ? undefined : telemetry.services.runtimeOf(scoped);
  const firstMinute = figures.firstMinute;

  return {
    window: {
      hours: query.hours,
      from: new Date(fromMinute * MINUTE_MS).toISOString(),
      to: new Date(now).toISOString(),
      data_from:
        firstMinute === undefined
          ? null
          : new Date(Math.max(firstMinute, fromMinute) * MINUTE_MS).toISOString(),
      source: figures.source,
    },
    service,
    filter: {
      operation: query.operation ?? null,
      user_id: query.userId ?? null,
      service: query.service ?? null,
    },
    operations: out,
    http,
    system: scoped === undefined ? systemReport(telemetry) : runtimeSystemReport(runtime),
    alerts,
    services: servicesReport(telemetry, figures.activity, fromMinute),
    warnings,
  };
}

/**
 * The figures from the rollups of every instance plus this process's minutes not yet written.
 *
 * @throws when Redis cannot be read (the caller falls back to memory).
 */
async function fromRedis(
  telemetry: Telemetry,
  query: CheckedQuery,
  scoped: string | undefined,
  fromMinute: number,
  toMinute: number,
  memoryFirst: number | undefined,
): Promise<Figures> {
  const rollups = telemetry.rollups as RedisRollupStore;
  const exporter = telemetry.rollupExporter as NonNullable<Telemetry['rollupExporter']>;
  const rollupQuery: RollupQuery = {
    fromMinute,
    toMinute,
    ...(query.operation !== undefined ? { operation: query.operation } : {}),
    ...(query.userId !== undefined ? { userId: query.userId } : {}),
    ...(scoped !== undefined ? { service: scoped } : {}),
  };
  // The unsaved minutes must be read in the same state of Redis as the stored ones: snapshot them
  // with no write running, and read again if a write started during the Redis reads.
  let stored: RollupTotals | undefined;
  let storedActivity: ActivityByService | undefined;
  let unsaved: WindowTotals = emptyTotals();
  const unfiltered = query.operation === undefined && query.userId === undefined;
  let whole = false;
  for (let attempt = 0; attempt < 3; attempt++) {
    await exporter.settled();
    if (exporter.writing) continue;
    const epoch = exporter.writeEpoch;
    unsaved = emptyTotals();
    for (const minute of exporter.pending(fromMinute)) addTotals(unsaved, minute);
    const read = await cachedRead(
      rollups,
      `${epoch}|${keyOf(rollupQuery)}`,
      () => rollups.read(rollupQuery),
      (r) => r.operations.size,
    );
    stored = read;
    // An unfiltered read holds the runs, errors and breaches of every operation of its service over
    // the window: that service's activity, so its summaries (its largest hashes) are not read;
    // unless the read reached the operations cap (the summaries count every run).
    whole = unfiltered && read.operations.size < rollups.maxOperations;
    const skip = whole ? { service: scoped } : undefined;
    const skipped = !whole ? '-' : scoped === undefined ? '+' : `+${scoped.length}:${scoped}`;
    storedActivity = await cachedRead(
      rollups,
      `${epoch}|activity|${fromMinute}|${toMinute}|${skipped}`,
      () => rollups.readActivity(fromMinute, toMinute, skip),
      activityWeight,
    );
    if (exporter.writeEpoch === epoch) break;
  }
  if (!stored || !storedActivity) throw new Error('the rollup store was busy writing for three attempts');
  // Copies: what was read may be shared with other reports through the read cache.
  const merged = emptyTotals();
  const pending = serviceTotalsOf(unsaved, scoped);
  addTotals(merged, { operations: stored.operations });
  if (query.userId === undefined) addTotals(merged, { operations: pending.operations });
  else addTotals(merged, { operations: pending.users.get(query.userId) ?? new Map() });
  const activity: ActivityByService = { own: undefined, services: new Map() };
  mergeActivities(activity, storedActivity);
  if (whole) mergeActivities(activity, activityOfService(scoped, stored.operations));
  mergeActivities(activity, activitiesOf(unsaved));
  const first = stored.firstMinute;
  return {
    operations: merged.operations,
    targets: stored.targets,
    activity,
    firstMinute:
      first !== undefined && (memoryFirst === undefined || first < memoryFirst) ? first : memoryFirst,
    source: 'redis',
  };
}

/** The list of services: those with activity in the window, those with runtime figures, the own one. */
function servicesReport(
  telemetry: Telemetry,
  activity: ActivityByService,
  fromMinute: number,
): Record<string, ServiceReport> {
  const registry = telemetry.services;
  const own = registry.own;
  const names = new Set<string>([own, ...activity.services.keys()]);
  for (const name of registry.services()) {
    const sample = registry.runtimeOf(name);
    if (sample !== undefined && sample.at >= fromMinute * MINUTE_MS) names.add(name);
  }
  const out: Record<string, ServiceReport> = {};
  for (const name of [...names].sort()) {
    const a = name === own ? activity.own : activity.services.get(name);
    out[name] = {
      own: name === own,
      operations: a?.operations.size ?? 0,
      runs: a?.count ?? 0,
      errors: a?.errors ?? 0,
      breaches: a?.breaches ?? 0,
      runtime: name === own || registry.runtimeOf(name) !== undefined,
    };
  }
  return out;
}

/**
 * Longest reuse of a rollup read, ms: the store's version changes with every write of a writer of
 * this version, so this bounds only how stale a read can be while an older writer shares the Redis.
 */
const ROLLUP_CACHE_MS = 60_000;
/** Distinct queries whose reads are kept. */
const ROLLUP_CACHE_MAX = 32;
/**
 * Most operations (or minutes, or services' operations) the kept reads hold in all, about 0.5 to
 * 1 KiB each: 32 reads of 10,000 operations each would hold some 200 MiB.
 */
const ROLLUP_CACHE_MAX_WEIGHT = 20_000;

/** One kept read: its weight is known once it resolved (1 until then). */
interface CachedRead {
  readonly at: number;
  readonly value: Promise<unknown>;
  weight: number;
}

const rollupCache = new WeakMap<RedisRollupStore, Map<string, CachedRead>>();
/** One uncached read at a time per store: concurrent reports cannot multiply the load on Redis. */
const readQueue = new WeakMap<RedisRollupStore, Promise<unknown>>();

function keyOf(query: RollupQuery): string {
  return `${query.fromMinute}|${query.toMinute}|${query.operation ?? ''}|${query.userId ?? ''}|${query.service ?? ''}`;
}

/**
 * A rollup read reused by identical reads for as long as the stored rollups do not change (their
 * version, one `MGET`, is part of the key), `key` carrying the write epoch too, so a reused read is
 * never combined with unsaved minutes that a later write has moved into Redis. Uncached reads run
 * one at a time. At most {@link ROLLUP_CACHE_MAX} reads are kept, none longer than a minute, and
 * no more than {@link ROLLUP_CACHE_MAX_WEIGHT} in all by `weigh` (a read's operations or minutes).
 *
 * @throws when Redis cannot be read.
 */
export async function cachedRead<T>(
  rollups: RedisRollupStore,
  key: string,
  read: () => Promise<T>,
  weigh: (value: T) => number,
): Promise<T> {
  let cache = rollupCache.get(rollups);
  if (!cache) {
    cache = new Map();
    rollupCache.set(rollups, cache);
  }
  const versioned = `${await rollups.version()}|${key}`;
  const now = Date.now();
  const hit = cache.get(versioned);
  if (hit && now - hit.at < ROLLUP_CACHE_MS) {
    // Most recently used last, so that the oldest entries are the ones evicted.
    cache.delete(versioned);
    cache.set(versioned, hit);
    return hit.value as Promise<T>;
  }
  const value = (readQueue.get(rollups) ?? Promise.resolve()).then(read);
  readQueue.set(
    rollups,
    value.catch(() => undefined),
  );
  // A failed read is not reused: the next report tries Redis again.
  value.catch(() => cache.delete(versioned));
  cache.delete(versioned);
  const entry: CachedRead = { at: now, value, weight: 1 };
  cache.set(versioned, entry);
  trimCache(cache, now);
  value.then(
    (resolved) => {
      entry.weight = Math.max(1, weigh(resolved));
      trimCache(cache, Date.now());
    },
    () => undefined,
  );
  return value;
}

/** The operations a read of the services' activity names, in all. */
function activityWeight(activity: ActivityByService): number {
  let n = activity.own?.operations.size ?? 0;
  for (const a of activity.services.values()) n += a.operations.size;
  return n;
}

/** Forgets the oldest kept reads past the bounds (entries, age, weight). */
function trimCache(cache: Map<string, CachedRead>, now: number): void {
  let weight = 0;
  for (const entry of cache.values()) weight += entry.weight;
  for (const [k, entry] of cache) {
    if (
      cache.size <= ROLLUP_CACHE_MAX &&
      now - entry.at < ROLLUP_CACHE_MS &&
      weight <= ROLLUP_CACHE_MAX_WEIGHT
    )
      break;
    cache.delete(k);
    weight -= entry.weight;
  }
}

function operationReport(agg: DurationAggregate, target: number | undefined): OperationReport {
  const breaches = breachesOf(agg, target);
  const apdex = apdexOf(agg, target);
  const [p50, p95, p99] = reportQuantiles(agg);
  return {
    count: agg.count,
    errors: agg.errors,
    mean_s: agg.count > 0 ? round(agg.sum / agg.count) : null,
    p50_s: roundOrNull(p50),
    p95_s: roundOrNull(p95),
    p99_s: roundOrNull(p99),
    max_s: agg.count > 0 ? round(agg.max) : null,
    target_s: target ?? null,
    breaches,
    breach_rate: agg.count > 0 ? round(breaches / agg.count) : 0,
    apdex: apdex === undefined ? null : round(apdex, 4),
  };
}

function round(value: number, digits = 6): number {
  return roundTo(value, digits);
}

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : round(value);
}
