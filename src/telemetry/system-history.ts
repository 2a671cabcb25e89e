/**
 * The system history: each service's runtime figures per minute over the last 24 hours, what the
 * dashboard's system charts draw (`GET /api/system/resources/series`).
 *
 * - The own service: every resource sample (RSS, heap, CPU, event-loop delay and utilisation), and
 *   once a minute the cache hit rates per level and the database pool use, read from a collection
 *   of the telemetry's own metrics (see `system-metrics.ts`), so the telemetry stays apart from the
 *   cache and the database parts.
 * - Every received service that exports runtime metrics: the figures the service registry accepts.
 *
 * Each service has a {@link SystemRing} of its own, made when its first figures arrive; there are
 * at most `maxServices` of them (the own one included), the registry's own cap. The minute being
 * filled is readable at any time: a read collects the cache and pool figures into it first, unless
 * a collection ended less than {@link COLLECTION_REUSE_MS} before (a collection reads every metric
 * of the process, and every open dashboard asks for the own series); reads while one runs share it.
 * So the current minute's cache and pool figures are at most that old, and a read costs at most one
 * collection per {@link COLLECTION_REUSE_MS} however many pages ask.
 */
import type { CollectionResult } from '@opentelemetry/sdk-metrics';
import type { Logger } from 'pino';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { MINUTE_MS, type Minute } from './minutes.ts';
import type { ResourceSample } from './resources.ts';
import type { RuntimeSample, RuntimeSink } from './runtime-sample.ts';
import { LookupDeltas, readSystemMetrics } from './system-metrics.ts';
import { HISTORY_MINUTES, type RuntimeFigures, type SystemMinute, SystemRing } from './system-ring.ts';

/** Options of {@link SystemHistory}. */
export interface SystemHistoryOptions {
  /** The own `service.name`: its figures come from the resource sampler and the metrics. */
  readonly ownService: string;
  /** Most services with a history, the own one included (`PERF_MAX_SERVICES`). */
  readonly maxServices: number;
  /**
   * Collects the telemetry's metrics, cumulative (the Prometheus reader's `collect()`). Without it
   * (metrics off) the own service has no cache or pool figures.
   */
  readonly collect?: () => Promise<CollectionResult>;
  /** Clock, epoch ms. Default `Date.now`. */
  readonly now?: () => number;
  /** Where the debug lines about missing cache and pool figures go. Default: perf-sidecar's logger. */
  readonly logger?: Pick<Logger, 'debug'>;
}

/** A read of the own service reuses a metric collection that ended this recently, ms. */
export const COLLECTION_REUSE_MS = 5_000;

const MIB = 1024 * 1024;
const NO_FIGURES = 'system history: no cache hit rates or pool use';

/** See the module comment. */
export class SystemHistory implements RuntimeSink {
  /** The own `service.name`. */
  readonly own: string;
  readonly #maxServices: number;
  readonly #collect: SystemHistoryOptions['collect'];
  readonly #now: () => number;
  readonly #logger: Pick<Logger, 'debug'> | undefined;
  readonly #rings = new Map<string, SystemRing>();
  readonly #deltas = new LookupDeltas();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #collecting: Promise<void> | undefined;
  /** When the latest collection ended (the clock's ms); none yet: -Infinity. */
  #collectedAt = Number.NEGATIVE_INFINITY;
  /** Why the latest collection gave no figures, said once until it changes. */
  #problem: string | undefined;

  constructor(options: SystemHistoryOptions) {
    this.own = options.ownService;
    this.#maxServices = options.maxServices;
    this.#collect = options.collect;
    this.#now = options.now ?? Date.now;
    this.#logger = options.logger;
  }

  /** Services with a history, in the order their first figures came. */
  services(): string[] {
    return [...this.#rings.keys()];
  }

  /** Whether `service` has a history. */
  has(service: string): boolean {
    return this.#rings.has(service);
  }

  /** Records a resource sample of the own service, in the minute it was taken. Never throws. */
  recordOwn(sample: ResourceSample): void {
    this.#add(this.own, sample.at, {
      rssMb: sample.rssMb,
      heapMb: sample.heapUsedMb,
      cpuPercent: sample.cpuPercent,
      eventLoopDelayP99Ms: sample.eventLoopDelayP99Ms,
      eventLoopUtilization: sample.eventLoopUtilization,
    });
  }

  /**
   * Records a received service's runtime figures (the service registry passes those it accepts,
   * under the name it records the service under), in the minute they were taken. Figures received
   * under the own name are left out: the own service's come from its sampler, and the maxima of two
   * processes mixed would describe neither. Never throws.
   */
  record(service: string, sample: RuntimeSample): void {
    if (service === this.own) return;
    const scaled = (value: number | undefined, scale: number) =>
      value === undefined ? undefined : value * scale;
    this.#add(service, sample.at, {
      rssMb: scaled(sample.rssBytes, 1 / MIB),
      heapMb: scaled(sample.heapUsedBytes, 1 / MIB),
      cpuPercent: scaled(sample.cpuCores, 100),
      eventLoopDelayP99Ms: scaled(sample.eventLoopDelayP99Seconds, 1000),
      eventLoopUtilization: sample.eventLoopUtilization,
    });
  }

  #add(service: string, at: number, figures: RuntimeFigures): void {
    const minute = this.#minuteOf(at);
    // A sample without a single figure would make a ring (and a point) of nothing.
    if (minute === undefined || !Object.values(figures).some(Number.isFinite)) return;
    this.#ringOf(service)?.addSample(minute, figures);
  }

  /**
   * The minute a figure taken at `at` belongs in: a time ahead of the clock (another host's) is
   * the current minute; one older than the history is `undefined`.
   */
  #minuteOf(at: number): Minute | undefined {
    const now = Math.floor(this.#now() / MINUTE_MS);
    const minute = Number.isFinite(at) ? Math.min(Math.floor(at / MINUTE_MS), now) : now;
    return minute > now - HISTORY_MINUTES ? minute : undefined;
  }

  /** The ring of `service`, made on first use; `undefined` past `maxServices` (the own one always has room). */
  #ringOf(service: string): SystemRing | undefined {
    let ring = this.#rings.get(service);
    if (ring !== undefined) return ring;
    const others = this.#rings.size - (this.#rings.has(this.own) ? 1 : 0);
    if (service !== this.own && others >= this.#maxServices - 1) return undefined;
    ring = new SystemRing();
    this.#rings.set(service, ring);
    return ring;
  }

  /**
   * The minutes of `service` from `from` to `to` (inclusive) that hold figures, oldest first; for
   * the own service, after collecting the cache and pool figures into the current minute (or
   * reusing a collection younger than {@link COLLECTION_REUSE_MS}, or the one running).
   */
  async minutes(service: string, from: Minute, to: Minute): Promise<SystemMinute[]> {
    if (service === this.own) await this.#fresh();
    return this.#rings.get(service)?.read(from, to) ?? [];
  }

  /** What a read waits for: the collection running, none when the latest is recent, else a new one. */
  #fresh(): Promise<void> {
    if (this.#collecting !== undefined) return this.#collecting;
    const age = this.#now() - this.#collectedAt;
    // A clock gone back (another time source in a test, a host's clock set back) is not "recent".
    if (age >= 0 && age < COLLECTION_REUSE_MS) return Promise.resolve();
    return this.collect();
  }

  /** Starts the minute timer that collects the cache and pool figures of each minute. Idempotent. */
  start(): void {
    if (this.#running || this.#collect === undefined) return;
    this.#running = true;
    if (this.#timer === undefined) this.#schedule();
  }

  /** Stops the minute timer. */
  stop(): void {
    this.#running = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    const now = this.#now();
    const minute = Math.floor(now / MINUTE_MS);
    // Due at the end of `minute`, and collected into it however late it fires: the figures since
    // the previous collection belong to the minute that ended.
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.collect(minute).finally(() => {
          if (this.#running && this.#timer === undefined) this.#schedule();
        });
      },
      (minute + 1) * MINUTE_MS - now,
    );
    this.#timer.unref();
  }

  /**
   * Collects the cache and pool figures since the previous collection into `minute` (default: the
   * current one). A call while a collection runs for the current minute shares it. Never rejects:
   * without metrics, or when the collection fails, nothing is recorded and a debug line says why.
   */
  async collect(minute?: Minute): Promise<void> {
    if (minute === undefined && this.#collecting !== undefined) return this.#collecting;
    while (this.#collecting !== undefined) await this.#collecting;
    const running = this.#collectInto(minute ?? Math.floor(this.#now() / MINUTE_MS)).finally(() => {
      this.#collecting = undefined;
      this.#collectedAt = this.#now();
    });
    this.#collecting = running;
    return running;
  }

  async #collectInto(minute: Minute): Promise<void> {
    if (this.#collect === undefined) {
      this.#explain(
        `${NO_FIGURES}: metrics are off (performance monitoring or the OpenTelemetry SDK is disabled)`,
      );
      return;
    }
    let collected: CollectionResult;
    try {
      collected = await this.#collect();
    } catch (error) {
      this.#explain(`${NO_FIGURES} this minute: the metric collection failed: ${errorText(error)}`);
      return;
    }
    const { lookups, pool } = readSystemMetrics(collected.resourceMetrics);
    const cache = this.#deltas.next(lookups);
    if (cache === undefined && pool === undefined) {
      this.#explain(`${NO_FIGURES}: no cache and no database pool report metrics`);
      return;
    }
    const ring = this.#ringOf(this.own);
    if (cache !== undefined) ring?.addCache(minute, cache);
    if (pool !== undefined) ring?.setPool(minute, pool);
    // A callback that threw (a pool whose stats failed) leaves the other figures usable.
    const failed = collected.errors.slice(0, 3).map((e) => errorText(e));
    this.#explain(
      failed.length > 0
        ? `system history: some metric callbacks failed, their figures are missing: ${failed.join('; ')}`
        : undefined,
    );
  }

  /** Logs `problem` at debug level, once until the problem changes (a read may come every second). */
  #explain(problem: string | undefined): void {
    if (problem === this.#problem) return;
    this.#problem = problem;
    if (problem !== undefined) (this.#logger ?? getLogger()).debug({ service: this.own }, problem);
  }
}
