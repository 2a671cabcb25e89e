/**
 * Duration aggregates built from histogram data points: merging across minutes, instances and label
 * sets, and reading percentiles, breach counts and Apdex from bucket counts.
 *
 * Buckets are kept as a map from upper bound to count (`Infinity` for the overflow bucket), so that
 * aggregates with different boundaries (two instances with different targets) still merge.
 */

/** Durations of one series (an operation, a route, a user's operation) over some minutes. */
export interface DurationAggregate {
  /** Recorded durations. */
  count: number;
  /** Of which failed (span status error, or HTTP status >= 500). */
  errors: number;
  /** Of which exceeded their target; `undefined` when not counted (then read from buckets). */
  breaches: number | undefined;
  /** Of which took longer than four times the target; `undefined` when not counted. */
  frustrated: number | undefined;
  /**
   * Of which both failed and exceeded their target (so that errors and breaches can be added up
   * without counting a run twice: the error budgets' bad runs); absent when not counted.
   */
  breachedErrors?: number;
  /** Sum of durations, seconds. */
  sum: number;
  /** Longest duration, seconds (0 when unknown). */
  max: number;
  /**
   * Shortest duration, seconds; `undefined` when there are no durations or when some of the merged
   * data carried no minimum (then it is not known).
   */
  min: number | undefined;
  /** Count per bucket upper bound, seconds; `Infinity` is the overflow bucket. */
  readonly buckets: Map<number, number>;
}

/** A new, empty aggregate. */
export function emptyAggregate(countsBreaches: boolean): DurationAggregate {
  // Two literals, not a spread: a report makes one per operation, and the spread's object and
  // copy cost more than the rest of it.
  if (countsBreaches) {
    return {
      count: 0,
      errors: 0,
      breaches: 0,
      frustrated: 0,
      breachedErrors: 0,
      sum: 0,
      max: 0,
      min: undefined,
      buckets: new Map(),
    };
  }
  return {
    count: 0,
    errors: 0,
    breaches: undefined,
    frustrated: undefined,
    sum: 0,
    max: 0,
    min: undefined,
    buckets: new Map(),
  };
}

/** The aggregate of `key` in `map`, created empty when missing. */
export function aggregateFor(
  map: Map<string, DurationAggregate>,
  key: string,
  countsBreaches: boolean,
): DurationAggregate {
  let agg = map.get(key);
  if (!agg) {
    agg = emptyAggregate(countsBreaches);
    map.set(key, agg);
  }
  return agg;
}

/**
 * The minimum of `into` once `count` durations whose minimum is `min` are added to it: the smaller
 * of the two, or unknown as soon as either side has durations without a known minimum.
 */
function mergedMin(into: DurationAggregate, count: number, min: number | undefined): number | undefined {
  if (count <= 0) return into.min;
  if (into.count <= 0) return min;
  return into.min === undefined || min === undefined ? undefined : Math.min(into.min, min);
}

/** Adds `from` into `into` (counts and sums add, max takes the larger, min the smaller). */
export function mergeAggregate(into: DurationAggregate, from: DurationAggregate): void {
  into.min = mergedMin(into, from.count, from.min);
  into.count += from.count;
  into.errors += from.errors;
  if (into.breaches !== undefined) into.breaches += from.breaches ?? 0;
  if (into.frustrated !== undefined) into.frustrated += from.frustrated ?? 0;
  if (from.breachedErrors) into.breachedErrors = (into.breachedErrors ?? 0) + from.breachedErrors;
  into.sum += from.sum;
  if (from.max > into.max) into.max = from.max;
  for (const [bound, n] of from.buckets) into.buckets.set(bound, (into.buckets.get(bound) ?? 0) + n);
}

/**
 * Adds one histogram data point (OpenTelemetry explicit buckets: `counts.length` is
 * `boundaries.length + 1`) to an aggregate.
 */
export function addHistogramPoint(
  into: DurationAggregate,
  point: {
    readonly count: number;
    readonly sum?: number;
    readonly max?: number;
    readonly min?: number;
    readonly buckets: { readonly boundaries: readonly number[]; readonly counts: readonly number[] };
  },
): void {
  into.min = mergedMin(into, point.count, point.min);
  into.count += point.count;
  into.sum += point.sum ?? 0;
  if (point.max !== undefined && point.max > into.max) into.max = point.max;
  const { boundaries, counts } = point.buckets;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i] ?? 0;
    if (n === 0) continue;
    const bound = i < boundaries.length ? (boundaries[i] as number) : Number.POSITIVE_INFINITY;
    into.buckets.set(bound, (into.buckets.get(bound) ?? 0) + n);
    // Keep the bucket's lower edge as an (empty) entry: only non-empty buckets are stored, and
    // without it the bucket would seem to start at the previous non-empty one.
    const lower = boundaries[i - 1];
    if (lower !== undefined && !into.buckets.has(lower)) into.buckets.set(lower, 0);
  }
}

interface Bucket {
  readonly lower: number;
  readonly upper: number;
  readonly count: number;
}

/** Non-empty buckets in order, with their lower edges; the overflow bucket ends at `max`. */
function orderedBuckets(agg: DurationAggregate): Bucket[] {
  const bounds = [...agg.buckets.keys()].sort((a, b) => a - b);
  const out: Bucket[] = [];
  let lower = 0;
  for (const bound of bounds) {
    const count = agg.buckets.get(bound) ?? 0;
    const upper = Number.isFinite(bound) ? bound : Math.max(agg.max, lower);
    if (count > 0) out.push({ lower, upper, count });
    lower = bound;
  }
  return out;
}

/**
 * The buckets a quantile is read from: the non-empty ones, with the first one starting at the
 * recorded minimum and the last one ending at the recorded maximum (when known), since no duration
 * lies outside [min, max].
 */
function quantileBuckets(agg: DurationAggregate): Bucket[] {
  const buckets = orderedBuckets(agg);
  const first = buckets[0];
  const last = buckets.at(-1);
  if (!first || !last) return buckets;
  if (agg.min !== undefined) {
    buckets[0] = { ...first, lower: clamp(agg.min, first.lower, first.upper) };
  }
  if (agg.max > 0) {
    const end = buckets.length - 1;
    const b = buckets[end] as Bucket;
    buckets[end] = { ...b, upper: clamp(agg.max, b.lower, b.upper) };
  }
  return buckets;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(Math.max(value, low), high);
}

/** Most skew the single-bucket shape takes (exponent of the power curve, and its inverse). */
const MAX_SHAPE = 50;

/**
 * The `q` quantile (0..1) of the durations, read from the buckets.
 *
 * Inside the bucket that holds the quantile the value is interpolated; the first non-empty bucket
 * starts at the recorded minimum and the last one ends at the recorded maximum, so the result is
 * monotone in `q` and always inside [min, max]. When every duration falls into one bucket (a tight
 * distribution) the mean is known for that bucket too, and the interpolation follows a power curve
 * `lower + width * p^(1/k)` whose mean equals the recorded mean (k = 1 is the straight line): a
 * skewed sample then reads a median below its mean instead of above it.
 *
 * Error bound: the true quantile lies in the same bucket, so the error is at most the width of that
 * bucket clipped to [min, max] (for one occupied bucket: at most max - min). `undefined` when there
 * are no durations.
 *
 * Lower edges: a bucket's lower edge is the previous bound this aggregate holds; every non-empty
 * bucket's true lower edge is stored (as an empty entry when needed), so buckets keep their width.
 */
export function quantile(agg: DurationAggregate, q: number): number | undefined {
  if (agg.count <= 0) return undefined;
  return quantileIn(agg, quantileBuckets(agg), q);
}

/**
 * The p50, p95 and p99 of the durations (see {@link quantile}), the buckets ordered once for the
 * three: what a report shows of every operation.
 */
export function reportQuantiles(
  agg: DurationAggregate,
): readonly [number | undefined, number | undefined, number | undefined] {
  if (agg.count <= 0) return [undefined, undefined, undefined];
  const buckets = quantileBuckets(agg);
  return [quantileIn(agg, buckets, 0.5), quantileIn(agg, buckets, 0.95), quantileIn(agg, buckets, 0.99)];
}

function quantileIn(agg: DurationAggregate, buckets: readonly Bucket[], q: number): number | undefined {
  const rank = Math.min(Math.max(q, 0), 1) * agg.count;
  const shape = buckets.length === 1 ? meanShape(buckets[0] as Bucket, agg.sum / agg.count) : 1;
  let seen = 0;
  for (const b of buckets) {
    if (seen + b.count >= rank) {
      const within = b.count === 0 ? 0 : (rank - seen) / b.count;
      const value = b.lower + (b.upper - b.lower) * within ** (1 / shape);
      return agg.max > 0 ? Math.min(value, agg.max) : value;
    }
    seen += b.count;
  }
  return agg.max;
}

/**
 * The exponent k of the power curve F(x) = ((x - lower) / width)^k whose mean is `mean`: the mean
 * of that curve is lower + width * k / (k + 1). 1 (a straight line) when the mean is not inside
 * the bucket (rounding, or a sum that is not known).
 */
function meanShape(bucket: Bucket, mean: number): number {
  const width = bucket.upper - bucket.lower;
  if (!(width > 0) || !Number.isFinite(mean)) return 1;
  const r = (mean - bucket.lower) / width;
  if (!(r > 0 && r < 1)) return 1;
  return clamp(r / (1 - r), 1 / MAX_SHAPE, MAX_SHAPE);
}

/**
 * How many durations exceed `threshold` seconds, from the buckets: exact when `threshold` is a
 * bucket bound (targets and 4x targets are), interpolated inside the bucket otherwise.
 */
export function countAbove(agg: DurationAggregate, threshold: number): number {
  let above = 0;
  for (const b of orderedBuckets(agg)) {
    if (b.lower >= threshold) above += b.count;
    else if (b.upper > threshold) above += (b.count * (b.upper - threshold)) / (b.upper - b.lower);
  }
  return above;
}

/** Breaches against `target`: the counted figure when there is one, else read from the buckets. */
export function breachesOf(agg: DurationAggregate, target: number | undefined): number {
  if (agg.breaches !== undefined) return agg.breaches;
  return target === undefined ? 0 : Math.round(countAbove(agg, target));
}

/**
 * Apdex with T = `target`: (satisfied + tolerating / 2) / count, where satisfied is at most T and
 * tolerating is over T up to 4T. `undefined` without a target or without durations.
 */
export function apdexOf(agg: DurationAggregate, target: number | undefined): number | undefined {
  if (target === undefined || agg.count === 0) return undefined;
  const breaches = breachesOf(agg, target);
  const frustrated = agg.frustrated ?? Math.round(countAbove(agg, target * 4));
  const satisfied = agg.count - breaches;
  const tolerating = Math.max(0, breaches - frustrated);
  return (satisfied + tolerating / 2) / agg.count;
}
