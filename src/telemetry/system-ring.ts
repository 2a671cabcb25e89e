/**
 * One service's runtime figures per minute over the last 24 hours: a ring of
 * {@link HISTORY_MINUTES} slots in typed arrays, so a service costs the same 40 KiB whether it
 * reports once a minute or a hundred times a second, and no object is made per sample or minute.
 *
 * A slot holds the minute it stands for; a figure for a newer minute takes the slot over (the one
 * 24 hours older is forgotten), a figure for a minute older than the slot's is dropped. Missing
 * figures are `NaN` (maxima, latest values) or a zero count (means).
 *
 * Cache lookups and pool use (the own service only) live in arrays of their own, allocated the
 * first time such figures arrive: a received service never pays for them.
 */
import type { Minute } from './minutes.ts';

/** Minutes a ring holds: 24 hours. */
export const HISTORY_MINUTES = 1440;

/**
 * Largest count of samples a mean is taken over per minute. Past it a minute's mean stops taking
 * samples, which keeps the counts in 16 bits; 65535 a minute is over a thousand a second.
 */
const MAX_SAMPLES = 0xffff;

/** Figures of one runtime sample, in the units points are given in; absent when not reported. */
export interface RuntimeFigures {
  /** Resident set size, MiB. */
  readonly rssMb?: number;
  /** Heap in use, MiB. */
  readonly heapMb?: number;
  /** Process CPU, percent of one core. */
  readonly cpuPercent?: number;
  /** Event-loop delay p99, ms. */
  readonly eventLoopDelayP99Ms?: number;
  /** Event-loop utilisation, 0 to 1. */
  readonly eventLoopUtilization?: number;
}

/** Cache lookups over some time, per level (a lookup is a hit or a miss, as the cache counts them). */
export interface CacheLookups {
  readonly memoryHits: number;
  readonly memoryLookups: number;
  readonly redisHits: number;
  readonly redisLookups: number;
}

/** Connections of the database pools, summed over the pools, at one moment. */
export interface PoolUse {
  readonly used: number;
  readonly idle: number;
  /** Requests waiting for a connection. */
  readonly waiting: number;
}

/** One minute of a ring, as read back: `null` where nothing was recorded. */
export interface SystemMinute {
  readonly minute: Minute;
  /** Largest RSS of the minute, MiB. */
  readonly rssMb: number | null;
  /** Largest heap in use of the minute, MiB. */
  readonly heapMb: number | null;
  /** Mean CPU of the minute's samples, percent of one core. */
  readonly cpuPercent: number | null;
  /** Largest event-loop delay p99 of the minute, ms. */
  readonly eventLoopDelayP99Ms: number | null;
  /** Mean event-loop utilisation of the minute's samples. */
  readonly eventLoopUtilization: number | null;
  /** Cache lookups counted in the minute; `null` when no cache reported any figures. */
  readonly cache: CacheLookups | null;
  /** Pool use at the minute's latest collection; `null` when no pool reported. */
  readonly pool: PoolUse | null;
}

/** The arrays of cache and pool figures, allocated on first use. */
interface MetricArrays {
  /** `NaN` where no cache reported in the minute. */
  readonly memoryHits: Float64Array;
  readonly memoryLookups: Float64Array;
  readonly redisHits: Float64Array;
  readonly redisLookups: Float64Array;
  /** `NaN` where no pool reported in the minute. */
  readonly poolUsed: Float32Array;
  readonly poolIdle: Float32Array;
  readonly poolWaiting: Float32Array;
}

function filled<T extends Float32Array | Float64Array>(array: T): T {
  return array.fill(Number.NaN) as T;
}

/** See the module comment. */
export class SystemRing {
  /** Epoch minute each slot stands for; -1 for a slot never used. 32 bits hold minutes until 6053. */
  readonly #minutes = new Int32Array(HISTORY_MINUTES).fill(-1);
  readonly #rssMax = filled(new Float32Array(HISTORY_MINUTES));
  readonly #heapMax = filled(new Float32Array(HISTORY_MINUTES));
  readonly #cpuSum = new Float32Array(HISTORY_MINUTES);
  readonly #cpuCount = new Uint16Array(HISTORY_MINUTES);
  readonly #delayMax = filled(new Float32Array(HISTORY_MINUTES));
  readonly #eluSum = new Float32Array(HISTORY_MINUTES);
  readonly #eluCount = new Uint16Array(HISTORY_MINUTES);
  #metrics: MetricArrays | undefined;

  /** Whether cache or pool figures were ever recorded (their arrays exist). */
  get hasMetrics(): boolean {
    return this.#metrics !== undefined;
  }

  /**
   * Folds one sample's figures into `minute`: maxima for memory and delay, means for CPU and
   * utilisation. Returns `false` when the minute is older than the ring holds (nothing recorded).
   */
  addSample(minute: Minute, figures: RuntimeFigures): boolean {
    const i = this.#claim(minute);
    if (i < 0) return false;
    this.#rssMax[i] = maxOf(this.#rssMax[i], figures.rssMb);
    this.#heapMax[i] = maxOf(this.#heapMax[i], figures.heapMb);
    this.#delayMax[i] = maxOf(this.#delayMax[i], figures.eventLoopDelayP99Ms);
    const cpu = figures.cpuPercent;
    if (isFigure(cpu) && (this.#cpuCount[i] ?? MAX_SAMPLES) < MAX_SAMPLES) {
      this.#cpuSum[i] = (this.#cpuSum[i] ?? 0) + cpu;
      this.#cpuCount[i] = (this.#cpuCount[i] ?? 0) + 1;
    }
    const elu = figures.eventLoopUtilization;
    if (isFigure(elu) && (this.#eluCount[i] ?? MAX_SAMPLES) < MAX_SAMPLES) {
      this.#eluSum[i] = (this.#eluSum[i] ?? 0) + elu;
      this.#eluCount[i] = (this.#eluCount[i] ?? 0) + 1;
    }
    return true;
  }

  /** Adds cache lookups counted since the previous collection to `minute`. */
  addCache(minute: Minute, lookups: CacheLookups): boolean {
    const i = this.#claim(minute);
    if (i < 0) return false;
    const m = this.#metricArrays();
    const add = (array: Float64Array, n: number) => {
      const held = array[i] ?? Number.NaN;
      array[i] = (Number.isNaN(held) ? 0 : held) + n;
    };
    add(m.memoryHits, lookups.memoryHits);
    add(m.memoryLookups, lookups.memoryLookups);
    add(m.redisHits, lookups.redisHits);
    add(m.redisLookups, lookups.redisLookups);
    return true;
  }

  /** Sets the pool use of `minute` (the latest collection of a minute stands for it). */
  setPool(minute: Minute, pool: PoolUse): boolean {
    const i = this.#claim(minute);
    if (i < 0) return false;
    const m = this.#metricArrays();
    m.poolUsed[i] = pool.used;
    m.poolIdle[i] = pool.idle;
    m.poolWaiting[i] = pool.waiting;
    return true;
  }

  /** The minutes from `from` to `to` (inclusive) that hold figures, oldest first. */
  read(from: Minute, to: Minute): SystemMinute[] {
    const out: SystemMinute[] = [];
    const first = Math.max(from, to - HISTORY_MINUTES + 1);
    for (let minute = first; minute <= to; minute++) {
      const i = slotOf(minute);
      if (this.#minutes[i] === minute) out.push(this.#minuteAt(i, minute));
    }
    return out;
  }

  #minuteAt(i: number, minute: Minute): SystemMinute {
    const cpuCount = this.#cpuCount[i] ?? 0;
    const eluCount = this.#eluCount[i] ?? 0;
    return {
      minute,
      rssMb: figureOrNull(this.#rssMax[i]),
      heapMb: figureOrNull(this.#heapMax[i]),
      cpuPercent: cpuCount > 0 ? (this.#cpuSum[i] ?? 0) / cpuCount : null,
      eventLoopDelayP99Ms: figureOrNull(this.#delayMax[i]),
      eventLoopUtilization: eluCount > 0 ? (this.#eluSum[i] ?? 0) / eluCount : null,
      cache: this.#cacheAt(i),
      pool: this.#poolAt(i),
    };
  }

  #cacheAt(i: number): CacheLookups | null {
    const m = this.#metrics;
    const memoryLookups = m?.memoryLookups[i] ?? Number.NaN;
    if (m === undefined || Number.isNaN(memoryLookups)) return null;
    return {
      memoryHits: m.memoryHits[i] ?? 0,
      memoryLookups,
      redisHits: m.redisHits[i] ?? 0,
      redisLookups: m.redisLookups[i] ?? 0,
    };
  }

  #poolAt(i: number): PoolUse | null {
    const m = this.#metrics;
    const used = m?.poolUsed[i] ?? Number.NaN;
    if (m === undefined || Number.isNaN(used)) return null;
    return { used, idle: m.poolIdle[i] ?? 0, waiting: m.poolWaiting[i] ?? 0 };
  }

  /** The slot of `minute`, emptied first when it held an older minute; -1 when it holds a newer one. */
  #claim(minute: Minute): number {
    const i = slotOf(minute);
    const held = this.#minutes[i] ?? -1;
    if (held === minute) return i;
    if (held > minute) return -1;
    this.#minutes[i] = minute;
    this.#rssMax[i] = Number.NaN;
    this.#heapMax[i] = Number.NaN;
    this.#cpuSum[i] = 0;
    this.#cpuCount[i] = 0;
    this.#delayMax[i] = Number.NaN;
    this.#eluSum[i] = 0;
    this.#eluCount[i] = 0;
    const m = this.#metrics;
    if (m !== undefined) {
      for (const array of Object.values(m) as (Float32Array | Float64Array)[]) array[i] = Number.NaN;
    }
    return i;
  }

  #metricArrays(): MetricArrays {
    this.#metrics ??= {
      memoryHits: filled(new Float64Array(HISTORY_MINUTES)),
      memoryLookups: filled(new Float64Array(HISTORY_MINUTES)),
      redisHits: filled(new Float64Array(HISTORY_MINUTES)),
      redisLookups: filled(new Float64Array(HISTORY_MINUTES)),
      poolUsed: filled(new Float32Array(HISTORY_MINUTES)),
      poolIdle: filled(new Float32Array(HISTORY_MINUTES)),
      poolWaiting: filled(new Float32Array(HISTORY_MINUTES)),
    };
    return this.#metrics;
  }
}

function slotOf(minute: Minute): number {
  return minute % HISTORY_MINUTES;
}

function isFigure(value: number | undefined): value is number {
  return value !== undefined && Number.isFinite(value);
}

/** The larger of a held maximum (`NaN`: none yet) and a new figure (ignored when absent). */
function maxOf(held: number | undefined, value: number | undefined): number {
  if (!isFigure(value)) return held ?? Number.NaN;
  return held === undefined || Number.isNaN(held) || value > held ? value : held;
}

function figureOrNull(value: number | undefined): number | null {
  return value === undefined || Number.isNaN(value) ? null : value;
}
