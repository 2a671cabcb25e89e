/**
 * Operation targets: resolution order and the histogram buckets that make targets readable from
 * metrics.
 */

/**
 * Resolves the target of an operation, first match wins: the explicit per-call target, the table
 * entry for the operation name, the table entry for its kind, none.
 *
 * @param table targets in seconds by operation name or kind.
 * @param name operation name.
 * @param kind operation kind, if any.
 * @param explicit per-call target, if any.
 * @returns the target in seconds, or `undefined` (no target: the operation is traced, never alerted).
 */
export function resolveTarget(
  table: Readonly<Record<string, number>>,
  name: string,
  kind: string | undefined,
  explicit: number | undefined,
): number | undefined {
  if (explicit !== undefined) return explicit;
  // Own properties only: an operation called "constructor" must not find Object.prototype's.
  if (Object.hasOwn(table, name)) return table[name];
  if (kind !== undefined && Object.hasOwn(table, kind)) return table[kind];
  return undefined;
}

/** Base bucket boundaries of `perf.operation.duration`, seconds: sub-millisecond to 15 minutes. */
const BASE_BOUNDARIES = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900,
];

/** Most boundaries a histogram gets; each boundary is one more series per label set. */
const MAX_BOUNDARIES = 64;

/**
 * Bucket boundaries for `perf.operation.duration`: the base ladder plus every target and four times
 * every target, so that the share of operations within T and within 4T (Apdex's satisfied and
 * tolerated) can be read exactly from bucket counts.
 *
 * @param targets targets in seconds (the configured table).
 */
export function durationBoundaries(targets: Iterable<number>): number[] {
  const set = new Set(BASE_BOUNDARIES);
  const extra = new Set<number>();
  for (const t of targets) {
    extra.add(t);
    extra.add(t * 4);
  }
  // Targets first: if the cap bites, the exact T and 4T edges matter more than the base ladder.
  const room = MAX_BOUNDARIES - extra.size;
  const base = [...set].filter((b) => !extra.has(b));
  const kept =
    room >= base.length ? base : base.filter((_, i) => i % Math.ceil(base.length / Math.max(room, 1)) === 0);
  return [...new Set([...extra, ...kept])].sort((a, b) => a - b).slice(0, MAX_BOUNDARIES);
}
