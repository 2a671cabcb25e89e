/**
 * System health in the IETF "Health Check Response Format for HTTP APIs" draft's form
 * (`application/health+json`): an overall `status` and `checks` keyed `component:measurement`.
 *
 * Dependency checks (Redis `PING`, PostgreSQL `SELECT 1`) are cached for `cacheMs` (1 s), so that
 * polling the endpoint cannot be used to load Redis or PostgreSQL; concurrent callers share one
 * check.
 *
 * Only what the service cannot work without may `fail` (and so fail readiness): the database the
 * service's lookups go to. Redis is not such a dependency: while it is away requests are served,
 * alert records are buffered (and counted when dropped) and reports fall back to memory, so an
 * unreachable Redis is `warn`. Process figures (memory, CPU, event loop) and alert buffering warn
 * at most.
 */
import { z } from 'zod';
import type { Database } from '../db/index.ts';
import type { Ingest } from '../ingest/index.ts';
import { errorText } from '../shared/errors.ts';
import { roundTo } from '../shared/numbers.ts';
import { decimal, integer, parseOptions, withMethods } from '../shared/options.ts';
import { VERSION } from '../shared/scope.ts';
import { getTelemetry, type Telemetry } from '../telemetry/index.ts';
import { memoryNowMb } from '../telemetry/internal.ts';
import { IngestHealth } from './ingest-health.ts';

/** Media type of the health response. */
export const HEALTH_CONTENT_TYPE = 'application/health+json';

/** `pass`, `warn` or `fail`; the overall status is the worst of the checks. */
export type HealthStatus = 'pass' | 'warn' | 'fail';

/** One measurement. */
export interface HealthCheck {
  /** `system` for process figures, `datastore` for Redis and PostgreSQL, `component` otherwise. */
  readonly componentType: 'system' | 'datastore' | 'component';
  /** The figure; `null` when it could not be measured. */
  readonly observedValue: number | null;
  /** Unit of `observedValue`: `MiB`, `percent`, `ms` or `{record}`. */
  readonly observedUnit: string;
  readonly status: HealthStatus;
  /** When measured (ISO 8601). */
  readonly time: string;
  /** Which instance of the component, when a key holds several (the path of a `disk:` check). */
  readonly componentId?: string;
  /** Why the status is not `pass` (never contains secrets). */
  readonly output?: string;
}

/** The health response body. */
export interface SystemHealth {
  readonly status: HealthStatus;
  /** perf-sidecar's version. */
  readonly version: string;
  /** `service.name`. */
  readonly serviceId: string;
  readonly description: string;
  /** Keyed `component:measurement`, each an array of one check (the draft's form). */
  readonly checks: Readonly<Record<string, readonly HealthCheck[]>>;
}

/** Thresholds and sources of {@link HealthChecker}: one schema with each option's default and bounds. */
const healthCheckerFields = {
  /** The running telemetry whose process, alerts and Redis are checked. */
  telemetry: withMethods<Telemetry>(['renderPrometheus'], 'a telemetry returned by startTelemetry()'),
  /** OTLP receivers to report on; absent: no `ingest:*` or `forward:*` checks. */
  ingest: withMethods<Ingest>(['stats'], 'the OTLP receivers of startIngest()').optional(),
  /** Database to check; absent: no `postgres:responseTime` check. */
  database: withMethods<Database>(['getHealthStatus'], 'a database service from createDatabase()').optional(),
  /** How long dependency results are reused, ms. */
  cacheMs: integer(0, 60_000, 'ms').default(1000),
  /** Event-loop p99 delay (ms) over which the check warns. */
  eventLoopDelayWarnMs: decimal(0, 60_000, { unit: 'ms', minExclusive: true }).default(100),
  /** Redis round trip (ms) over which the check warns. */
  redisWarnMs: decimal(0, 60_000, { unit: 'ms', minExclusive: true }).default(100),
  /** Minutes during which a dropped alert record keeps `alerts:dropped` at warn. */
  droppedWarnMinutes: decimal(0, 1440, { unit: 'minutes', minExclusive: true }).default(5),
};
const healthCheckerSchema: z.ZodObject<typeof healthCheckerFields, z.core.$strict> =
  z.strictObject(healthCheckerFields);

/** Options of {@link HealthChecker}. */
export type HealthCheckerOptions = z.input<typeof healthCheckerSchema>;

const RANK: Readonly<Record<HealthStatus, number>> = { pass: 0, warn: 1, fail: 2 };

interface Cached<T> {
  readonly at: number;
  readonly value: Promise<T>;
}

/** See the module comment. One per process is enough; {@link getSystemHealth} uses a shared one. */
export class HealthChecker {
  readonly #options: z.output<typeof healthCheckerSchema>;
  #redis: Cached<HealthCheck> | undefined;
  #postgres: Cached<HealthCheck> | undefined;
  #dropped = 0;
  #droppedChangedAt = 0;
  readonly #ingest: IngestHealth | undefined;

  /** @throws {InvalidArgumentError} naming the first bad option. */
  constructor(options: HealthCheckerOptions) {
    this.#options = parseOptions(healthCheckerSchema, options, { what: 'a health checker option' });
    const { ingest, droppedWarnMinutes } = this.#options;
    this.#ingest = ingest ? new IngestHealth(ingest, droppedWarnMinutes) : undefined;
  }

  /** Runs (or reuses) the checks and returns the health response body. */
  async check(): Promise<SystemHealth> {
    const { telemetry } = this.#options;
    const now = Date.now();
    const time = new Date(now).toISOString();
    const { config } = telemetry;
    const checks: Record<string, HealthCheck[]> = {};

    const sample = telemetry.resources.latest();
    const rss = sample?.rssMb ?? memoryNowMb().rssMb;
    checks['memory:rss'] = [
      system(
        rss,
        'MiB',
        rss > config.memoryAlertThresholdMb ? 'warn' : 'pass',
        time,
        rss > config.memoryAlertThresholdMb
          ? `over MEMORY_ALERT_THRESHOLD (${config.memoryAlertThresholdMb} MiB)`
          : undefined,
      ),
    ];
    const cpu = sample?.cpuPercent ?? null;
    const cpuOver = cpu !== null && cpu > config.cpuAlertThresholdPercent;
    checks['cpu:utilization'] = [
      system(
        cpu,
        'percent',
        cpuOver ? 'warn' : 'pass',
        time,
        cpu === null
          ? 'resource sampler not running'
          : cpuOver
            ? `over CPU_ALERT_THRESHOLD (${config.cpuAlertThresholdPercent}%)`
            : undefined,
      ),
    ];
    const delay = sample?.eventLoopDelayP99Ms ?? null;
    const delayWarn = this.#options.eventLoopDelayWarnMs;
    const delayOver = delay !== null && delay > delayWarn;
    checks['eventloop:delay'] = [
      system(
        delay,
        'ms',
        delayOver ? 'warn' : 'pass',
        time,
        delay === null ? 'resource sampler not running' : delayOver ? `p99 over ${delayWarn} ms` : undefined,
      ),
    ];

    // Disk: the sampler's latest statfs of each filesystem (never a statfs per request).
    const disks = sample?.disks ?? [];
    if (disks.length > 0) {
      const limit = config.disk.alertThresholdPercent;
      checks['disk:utilization'] = disks.map((d) => {
        const over = d.usedPercent !== null && d.usedPercent > limit;
        const output =
          d.usedPercent === null
            ? `could not read the filesystem (${d.error ?? 'unknown error'})`
            : over
              ? `over DISK_ALERT_THRESHOLD (${limit}%)`
              : undefined;
        return {
          ...system(d.usedPercent, 'percent', over || d.usedPercent === null ? 'warn' : 'pass', time, output),
          componentId: d.path,
        };
      });
    }

    const [redis, postgres] = await Promise.all([
      telemetry.pingRedis ? this.#cachedRedis(telemetry.pingRedis, now) : undefined,
      this.#options.database ? this.#cachedPostgres(this.#options.database, now) : undefined,
    ]);
    if (redis) checks['redis:responseTime'] = [redis];
    if (postgres) checks['postgres:responseTime'] = [postgres];

    const stats = telemetry.alerts.stats();
    checks['alerts:buffered'] = [
      component(
        stats.buffered,
        stats.buffered > 0 ? 'warn' : 'pass',
        time,
        stats.buffered > 0 ? 'alert records are waiting for Redis' : undefined,
      ),
    ];
    if (stats.dropped !== this.#dropped) {
      this.#dropped = stats.dropped;
      this.#droppedChangedAt = now;
    }
    const recentDrop =
      stats.dropped > 0 && now - this.#droppedChangedAt < this.#options.droppedWarnMinutes * 60_000;
    checks['alerts:dropped'] = [
      component(
        stats.dropped,
        recentDrop ? 'warn' : 'pass',
        time,
        recentDrop
          ? 'alert records were dropped recently (buffer full: Redis away or behind the alerts raised)'
          : undefined,
      ),
    ];

    if (this.#ingest) Object.assign(checks, this.#ingest.checks(now, time));

    let status: HealthStatus = 'pass';
    for (const list of Object.values(checks))
      for (const check of list) if (RANK[check.status] > RANK[status]) status = check.status;
    return {
      status,
      version: VERSION,
      serviceId: config.serviceName,
      description: 'perf-sidecar health',
      checks,
    };
  }

  #cachedRedis(pingRedis: () => Promise<number>, now: number): Promise<HealthCheck> {
    this.#redis = this.#fresh(this.#redis, now, async (time) => {
      const warnMs = this.#options.redisWarnMs;
      try {
        const ms = roundTo(await pingRedis(), 3);
        const slow = ms > warnMs;
        return datastore(ms, slow ? 'warn' : 'pass', time, slow ? `PING took over ${warnMs} ms` : undefined);
      } catch (error) {
        // warn, not fail: see the module comment.
        return datastore(
          null,
          'warn',
          time,
          `redis did not answer PING: ${errorText(error)}; requests are still served and alert records are buffered`,
        );
      }
    });
    return this.#redis.value;
  }

  #cachedPostgres(database: Database, now: number): Promise<HealthCheck> {
    this.#postgres = this.#fresh(this.#postgres, now, async (time) => {
      try {
        const health = await database.getHealthStatus();
        return datastore(
          health.latencyMs === undefined ? null : roundTo(health.latencyMs, 3),
          health.status,
          time,
          health.status === 'pass'
            ? undefined
            : (health.error ?? health.warning ?? 'requests are waiting for a pool connection'),
        );
      } catch (error) {
        return datastore(null, 'fail', time, `postgres check failed: ${errorText(error)}`);
      }
    });
    return this.#postgres.value;
  }

  /** `cached` while it is younger than the cache time, else a new check started now. */
  #fresh(
    cached: Cached<HealthCheck> | undefined,
    now: number,
    run: (time: string) => Promise<HealthCheck>,
  ): Cached<HealthCheck> {
    if (cached && now - cached.at < this.#options.cacheMs) return cached;
    return { at: now, value: run(new Date().toISOString()) };
  }
}

function check(
  componentType: HealthCheck['componentType'],
  value: number | null,
  unit: string,
  status: HealthStatus,
  time: string,
  output: string | undefined,
): HealthCheck {
  return {
    componentType,
    observedValue: value,
    observedUnit: unit,
    status,
    time,
    ...(output ? { output } : {}),
  };
}

function system(value: number | null, unit: string, status: HealthStatus, time: string, output?: string) {
  return check('system', value, unit, status, time, output);
}

function datastore(value: number | null, status: HealthStatus, time: string, output?: string) {
  return check('datastore', value, 'ms', status, time, output);
}

function component(value: number, status: HealthStatus, time: string, output?: string) {
  return check('component', value, '{record}', status, time, output);
}

/** The checker {@link getSystemHealth} reuses, with what it was made for. */
let shared: { checker: HealthChecker; telemetry: Telemetry; database: Database | undefined } | undefined;

/**
 * The health of the running telemetry (and of `database`, when given): the same object
 * `GET /api/system/performance/health` returns. Dependency checks are shared and cached for 1 s.
 *
 * @throws {PerfSidecarError} `PERF_NOT_STARTED` before `startTelemetry()`.
 */
export function getSystemHealth(options: { readonly database?: Database } = {}): Promise<SystemHealth> {
  const telemetry = getTelemetry();
  if (shared?.telemetry !== telemetry || shared.database !== options.database) {
    const { database } = options;
    shared = {
      checker: new HealthChecker({ telemetry, ...(database ? { database } : {}) }),
      telemetry,
      database,
    };
  }
  return shared.checker.check();
}
