/**
 * The performance report (`GET /api/system/performance`, `getPerformanceReport()`): operations,
 * HTTP routes, system figures and alert counts over a window of whole hours, computed from the
 * per-minute windows over the metric readers and, with Redis, from the rollup hashes of every
 * instance.
 */

import { z } from 'zod';
import { errorText, MAX_ID_LENGTH } from '../shared/errors.ts';
import { roundTo } from '../shared/numbers.ts';
import { accepts, parseOptions } from '../shared/options.ts';
import { apdexOf, breachesOf, type DurationAggregate, quantile } from './aggregate.ts';
import { addTotals, emptyTotals, MINUTE_MS, type WindowTotals } from './minutes.ts';
import { OPERATION_NAME_FORM, operationNameProblem } from './operations.ts';
import { memoryNowMb } from './resources.ts';
import type { RedisRollupStore, RollupQuery, RollupTotals } from './rollup.ts';
import { getTelemetry } from './sdk.ts';
import { resolveTarget } from './targets.ts';
import type { Telemetry } from './types.ts';

/** Longest window, hours (30 days). */
export const MAX_REPORT_HOURS = 720;
/** Default window, hours. */
export const DEFAULT_REPORT_HOURS = 24;

/**
 * The fields of a report query, each with its accepted form. Each is parsed on its own, so that an
 * error names the field alone (`hours: ...`), as the HTTP API's query parameters are named.
 */
const reportQueryFields = {
  /** Only this operation. */
  operation: accepts(
    z.string().superRefine((name, ctx) => {
      const problem = operationNameProblem(name);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, params: { problem } });
    }),
    OPERATION_NAME_FORM,
  ).optional(),
  /** Only this user's operations (spans carrying `user.id`); a number is read as its decimal text. */
  userId: accepts(
    z.union([z.string(), z.number().finite().transform(String)]).pipe(
      z
        .string()
        .min(1)
        .max(MAX_ID_LENGTH)
        .regex(/^\P{Cc}*$/u),
    ),
    `a string of 1 to ${MAX_ID_LENGTH} printable characters`,
  ).optional(),
  /** Window length, whole hours from 1 to 720. Default 24. */
  hours: accepts(
    z.number().int().min(1).max(MAX_REPORT_HOURS),
    `a whole number of hours from 1 to ${MAX_REPORT_HOURS}`,
  ).default(DEFAULT_REPORT_HOURS),
};

/** Schema of a report query (see {@link checkReportQuery} for how its errors name the fields). */
export const reportQuerySchema = z.object(reportQueryFields);

/** What to report on. */
export type PerformanceReportQuery = z.input<typeof reportQuerySchema>;

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
}

/** One `METHOD route` over the window (this process only). */
export interface HttpRouteReport {
  readonly count: number;
  /** Responses with status >= 500 or a transport error. */
  readonly errors: number;
  readonly p95_s: number | null;
}

/** Latest resource sample; `null` figures before the sampler has run. */
export interface SystemReport {
  readonly rss_mb: number;
  readonly heap_mb: number;
  readonly cpu_percent: number | null;
  readonly event_loop_delay_p99_ms: number | null;
  readonly event_loop_utilization: number | null;
  /**
   * Filesystems sampled (the working directory's and `DISK_PATHS`): used and free share in percent,
   * `null` when unreadable (then `error` names why). Empty before the sampler has read them.
   */
  readonly disk: readonly DiskReport[];
  /** When the figures were sampled (ISO 8601). */
  readonly sampled_at: string;
}

/** One sampled filesystem in {@link SystemReport}. */
export interface DiskReport {
  readonly path: string;
  readonly used_percent: number | null;
  readonly free_percent: number | null;
  readonly total_bytes: number | null;
  readonly available_bytes: number | null;
  /** Why it could not be read (an error code), when it could not. */
  readonly error?: string;
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
  /** Filters applied. */
  readonly filter: { readonly operation: string | null; readonly user_id: string | null };
  /** Per operation name. */
  readonly operations: Record<string, OperationReport>;
  /** Per `METHOD route`, this process only. */
  readonly http: Record<string, HttpRouteReport>;
  readonly system: SystemReport;
  /** Alerts raised by this process in the window, per type (before deduplication). */
  readonly alerts: Record<string, number>;
  /** Why parts of the report may be incomplete (for example Redis unreachable). */
  readonly warnings: readonly string[];
}

/** A checked report query, defaults filled. */
type CheckedQuery = z.output<typeof reportQuerySchema>;

const queryObject = accepts(z.looseObject({}), 'an object { operation?, userId?, hours? }');

/**
 * Checks a report query: `undefined` or an object whose fields {@link reportQuerySchema} describes
 * (other keys are ignored).
 *
 * @throws {InvalidArgumentError} naming the bad field alone (`hours`, `operation`, `userId`) or
 * `query`, and the expected form.
 */
export function checkReportQuery(query: unknown): CheckedQuery {
  const q = query === undefined ? {} : parseOptions(queryObject, query, { argument: 'query' });
  return {
    operation: parseOptions(reportQueryFields.operation, q.operation, { argument: 'operation' }),
    userId: parseOptions(reportQueryFields.userId, q.userId, { argument: 'userId' }),
    hours: parseOptions(reportQueryFields.hours, q.hours, { argument: 'hours' }),
  };
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

async function buildReport(telemetry: Telemetry, query: CheckedQuery): Promise<PerformanceReport> {
  const { windows, rollups, rollupExporter } = telemetry;
  const now = Date.now();
  const toMinute = Math.floor(now / MINUTE_MS);
  const fromMinute = toMinute - query.hours * 60 + 1;
  await windows.collect();
  const memory = windows.totals(fromMinute, toMinute);
  const warnings: string[] = [];

  let operations: Map<string, DurationAggregate>;
  let storedTargets = new Map<string, number>();
  let firstMinute = memory.firstMinute;
  let source: 'redis' | 'memory' = 'memory';
  const fromMemory = (): Map<string, DurationAggregate> =>
    query.userId !== undefined ? new Map(memory.users.get(query.userId) ?? []) : memory.operations;

  if (rollups && rollupExporter) {
    try {
      const rollupQuery: RollupQuery = {
        fromMinute,
        toMinute,
        ...(query.operation !== undefined ? { operation: query.operation } : {}),
        ...(query.userId !== undefined ? { userId: query.userId } : {}),
      };
      // The unsaved minutes must be read in the same state of Redis as the stored ones: snapshot
      // them with no write running, and read again if a write started during the Redis read.
      let stored: RollupTotals | undefined;
      let unsaved: WindowTotals = emptyTotals();
      for (let attempt = 0; attempt < 3; attempt++) {
        await rollupExporter.settled();
        if (rollupExporter.writing) continue;
        const epoch = rollupExporter.writeEpoch;
        unsaved = emptyTotals();
        for (const minute of rollupExporter.pending(fromMinute)) addTotals(unsaved, minute);
        stored = await cachedRead(rollups, epoch, rollupQuery);
        if (rollupExporter.writeEpoch === epoch) break;
      }
      if (!stored) throw new Error('the rollup store was busy writing for three attempts');
      // Copies: the stored totals may be shared with other reports through the read cache.
      const merged = emptyTotals();
      addTotals(merged, { operations: stored.operations });
      if (query.userId === undefined) addTotals(merged, { operations: unsaved.operations });
      else addTotals(merged, { operations: unsaved.users.get(query.userId) ?? new Map() });
      operations = merged.operations;
      storedTargets = stored.targets;
      if (
        stored.firstMinute !== undefined &&
        (firstMinute === undefined || stored.firstMinute < firstMinute)
      ) {
        firstMinute = stored.firstMinute;
      }
      source = 'redis';
    } catch (error) {
      operations = fromMemory();
      warnings.push(
        `redis rollups unavailable (${errorText(error)}); operations cover this process's memory only`,
      );
    }
  } else {
    operations = fromMemory();
  }

  const out: Record<string, OperationReport> = {};
  const names = [...operations.keys()]
    .filter((op) => query.operation === undefined || op === query.operation)
    .sort();
  for (const op of names) {
    const agg = operations.get(op) as DurationAggregate;
    const target =
      telemetry.processor.targetOf(op) ??
      storedTargets.get(op) ??
      resolveTarget(telemetry.targets, op, undefined, undefined);
    out[op] = operationReport(agg, target);
  }

  const http: Record<string, HttpRouteReport> = {};
  for (const key of [...memory.http.keys()].sort()) {
    const agg = memory.http.get(key) as DurationAggregate;
    http[key] = { count: agg.count, errors: agg.errors, p95_s: roundOrNull(quantile(agg, 0.95)) };
  }
  const alerts: Record<string, number> = {};
  for (const [type, n] of [...memory.alerts].sort(([a], [b]) => a.localeCompare(b))) alerts[type] = n;

  return {
    window: {
      hours: query.hours,
      from: new Date(fromMinute * MINUTE_MS).toISOString(),
      to: new Date(now).toISOString(),
      data_from:
        firstMinute === undefined
          ? null
          : new Date(Math.max(firstMinute, fromMinute) * MINUTE_MS).toISOString(),
      source,
    },
    filter: { operation: query.operation ?? null, user_id: query.userId ?? null },
    operations: out,
    http,
    system: systemReport(telemetry),
    alerts,
    warnings,
  };
}

/** How long a rollup read is reused, ms: reports cannot be used to load Redis. */
const ROLLUP_CACHE_MS = 1000;
/** Distinct queries whose reads are kept. */
const ROLLUP_CACHE_MAX = 32;
const rollupCache = new WeakMap<
  RedisRollupStore,
  Map<string, { at: number; value: Promise<RollupTotals> }>
>();
/** One uncached read at a time per store: concurrent reports cannot multiply the load on Redis. */
const readQueue = new WeakMap<RedisRollupStore, Promise<unknown>>();

/**
 * A rollup read shared by identical queries for a second (one read per 1,000 operations per day is
 * thousands of HGETALLs) and keyed by the write epoch, so a cached read is never combined with
 * unsaved minutes that a later write has moved into Redis. Uncached reads run one at a time.
 */
function cachedRead(rollups: RedisRollupStore, epoch: number, query: RollupQuery): Promise<RollupTotals> {
  let cache = rollupCache.get(rollups);
  if (!cache) {
    cache = new Map();
    rollupCache.set(rollups, cache);
  }
  const key = `${epoch}|${query.fromMinute}|${query.toMinute}|${query.operation ?? ''}|${query.userId ?? ''}`;
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && now - hit.at < ROLLUP_CACHE_MS) return hit.value;
  const value = (readQueue.get(rollups) ?? Promise.resolve()).then(() => rollups.read(query));
  readQueue.set(
    rollups,
    value.catch(() => undefined),
  );
  // A failed read is not reused: the next report tries Redis again.
  value.catch(() => cache.delete(key));
  cache.set(key, { at: now, value });
  for (const [k, entry] of cache) {
    if (cache.size <= ROLLUP_CACHE_MAX && now - entry.at < ROLLUP_CACHE_MS) break;
    cache.delete(k);
  }
  return value;
}

function operationReport(agg: DurationAggregate, target: number | undefined): OperationReport {
  const breaches = breachesOf(agg, target);
  const apdex = apdexOf(agg, target);
  return {
    count: agg.count,
    errors: agg.errors,
    mean_s: agg.count > 0 ? round(agg.sum / agg.count) : null,
    p50_s: roundOrNull(quantile(agg, 0.5)),
    p95_s: roundOrNull(quantile(agg, 0.95)),
    p99_s: roundOrNull(quantile(agg, 0.99)),
    max_s: agg.count > 0 ? round(agg.max) : null,
    target_s: target ?? null,
    breaches,
    breach_rate: agg.count > 0 ? round(breaches / agg.count) : 0,
    apdex: apdex === undefined ? null : round(apdex, 4),
  };
}

function systemReport(telemetry: Telemetry): SystemReport {
  const latest = telemetry.resources.latest();
  if (latest) {
    return {
      rss_mb: latest.rssMb,
      heap_mb: latest.heapUsedMb,
      cpu_percent: latest.cpuPercent,
      event_loop_delay_p99_ms: latest.eventLoopDelayP99Ms,
      event_loop_utilization: latest.eventLoopUtilization,
      disk: latest.disks.map((d) => ({
        path: d.path,
        used_percent: d.usedPercent,
        free_percent: d.freePercent,
        total_bytes: d.totalBytes,
        available_bytes: d.availableBytes,
        ...(d.error ? { error: d.error } : {}),
      })),
      sampled_at: new Date(latest.at).toISOString(),
    };
  }
  // Sampler not running (a library user who did not start it): memory now, the rest unknown.
  const memory = memoryNowMb();
  return {
    rss_mb: memory.rssMb,
    heap_mb: memory.heapUsedMb,
    cpu_percent: null,
    event_loop_delay_p99_ms: null,
    event_loop_utilization: null,
    disk: [],
    sampled_at: new Date().toISOString(),
  };
}

function round(value: number, digits = 6): number {
  return roundTo(value, digits);
}

function roundOrNull(value: number | undefined): number | null {
  return value === undefined ? null : round(value);
}
