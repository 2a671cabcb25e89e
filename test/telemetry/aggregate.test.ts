import { describe, expect, it } from 'vitest';
import {
  addHistogramPoint,
  apdexOf,
  breachesOf,
  countAbove,
  emptyAggregate,
  mergeAggregate,
  quantile,
} from '../../src/telemetry/aggregate.ts';
import { durationBoundaries } from '../../src/telemetry/targets.ts';

const BOUNDS = [0.01, 0.05, 0.1, 0.5, 1, 2, 8];

/** An aggregate holding exactly `values`, through the same histogram path the SDK data takes. */
function aggregateOf(values: number[], boundaries = BOUNDS) {
  const counts = new Array(boundaries.length + 1).fill(0) as number[];
  for (const v of values) {
    const i = boundaries.findIndex((b) => v <= b);
    const at = i === -1 ? boundaries.length : i;
    counts[at] = (counts[at] ?? 0) + 1;
  }
  const agg = emptyAggregate(false);
  addHistogramPoint(agg, {
    count: values.length,
    sum: values.reduce((a, b) => a + b, 0),
    max: Math.max(...values),
    min: Math.min(...values),
    buckets: { boundaries, counts },
  });
  return agg;
}

describe('quantile', () => {
  it('lands in the bucket that holds the true quantile (error at most that bucket width)', () => {
    const values = Array.from({ length: 1000 }, (_, i) => (i + 1) / 1000); // 0.001 .. 1.0
    const agg = aggregateOf(values);
    for (const [q, truth] of [
      [0.5, 0.5],
      [0.95, 0.95],
      [0.99, 0.99],
      [0.03, 0.03],
    ] as const) {
      const got = quantile(agg, q) as number;
      const upper = BOUNDS.find((b) => truth <= b) as number;
      const lower = [0, ...BOUNDS][BOUNDS.indexOf(upper)] as number;
      expect(got).toBeGreaterThanOrEqual(lower);
      expect(got).toBeLessThanOrEqual(upper);
    }
  });

  it('keeps a lone bucket at its real width (lower edge kept even when the bucket below is empty)', () => {
    const agg = aggregateOf([0.08, 0.09]);
    const p50 = quantile(agg, 0.5) as number;
    expect(p50).toBeGreaterThan(0.05);
    expect(p50).toBeLessThanOrEqual(0.09);
  });

  it('never exceeds the recorded max, also in the overflow bucket', () => {
    const agg = aggregateOf([12, 13]);
    expect(quantile(agg, 0.99)).toBeLessThanOrEqual(13);
    expect(quantile(agg, 0.99)).toBeGreaterThan(8);
  });

  it('is undefined without data', () => {
    expect(quantile(emptyAggregate(true), 0.5)).toBeUndefined();
  });
});

/** The nearest-rank quantile of `values`. */
function trueQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

/** A seeded generator (mulberry32): the same cases on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('quantile of tight distributions', () => {
  // The reported case: 30 durations between 0.15 and 0.17 s, skewed towards 0.15, in the default
  // ladder (one bucket, 0.1 to 0.25 s). It used to read p50 = p95 = p99 = max, median above mean.
  const values = Array.from({ length: 30 }, (_, i) => 0.15 + 0.0185 * (i / 29) ** 3);
  const agg = aggregateOf(values, durationBoundaries([]));
  const mean = agg.sum / agg.count;
  const [p50, p95, p99] = [0.5, 0.95, 0.99].map((q) => quantile(agg, q) as number) as [
    number,
    number,
    number,
  ];

  it('reads percentiles that are strictly ordered and inside [min, max]', () => {
    expect(p50).toBeLessThan(p95);
    expect(p95).toBeLessThan(p99);
    expect(p99).toBeLessThanOrEqual(0.1685);
    expect(p50).toBeGreaterThanOrEqual(0.15);
  });

  it('reads a median below the mean when the sample is skewed that way', () => {
    expect(trueQuantile(values, 0.5)).toBeLessThan(mean);
    expect(p50).toBeLessThan(mean);
  });

  it('stays within max - min of the true quantiles', () => {
    for (const q of [0.5, 0.95, 0.99]) {
      expect(Math.abs((quantile(agg, q) as number) - trueQuantile(values, q))).toBeLessThanOrEqual(0.0185);
    }
  });

  it('is monotone and inside [min, max] for seeded random samples of every shape', () => {
    const random = seeded(7);
    for (let round = 0; round < 200; round++) {
      const n = 1 + Math.floor(random() * 60);
      const base = random() * 3;
      const spread = random() ** 3 * 2;
      const sample = Array.from({ length: n }, () => base + spread * random() ** (random() * 4));
      const a = aggregateOf(sample, round % 2 ? BOUNDS : durationBoundaries([0.2]));
      let previous = -Infinity;
      for (let q = 0; q <= 1.0001; q += 0.01) {
        const v = quantile(a, Math.min(q, 1)) as number;
        expect(v).toBeGreaterThanOrEqual(previous);
        expect(v).toBeGreaterThanOrEqual(Math.min(...sample) - 1e-12);
        expect(v).toBeLessThanOrEqual(Math.max(...sample) + 1e-12);
        previous = v;
      }
    }
  });

  it('keeps the recorded min through merges, and forgets it when one side has none', () => {
    const a = aggregateOf([0.152, 0.16]);
    const b = aggregateOf([0.151, 0.165]);
    const merged = emptyAggregate(false);
    mergeAggregate(merged, a);
    mergeAggregate(merged, b);
    expect(merged.min).toBe(0.151);
    const unknown = emptyAggregate(false);
    addHistogramPoint(unknown, {
      count: 1,
      sum: 0.2,
      max: 0.2,
      buckets: { boundaries: BOUNDS, counts: [0, 0, 0, 1] },
    });
    mergeAggregate(merged, unknown);
    expect(merged.min).toBeUndefined();
    // Without a minimum the bucket's lower edge is the floor again.
    expect(quantile(merged, 0)).toBe(0.1);
  });
});

describe('breaches and Apdex', () => {
  it('are exact from buckets when the target and 4x target are bucket bounds', () => {
    // T = 0.5, 4T = 2: 3 satisfied, 2 tolerating, 1 frustrated.
    const agg = aggregateOf([0.01, 0.2, 0.5, 0.7, 1.5, 5]);
    expect(countAbove(agg, 0.5)).toBe(3);
    expect(breachesOf(agg, 0.5)).toBe(3);
    expect(apdexOf(agg, 0.5)).toBeCloseTo((3 + 2 / 2) / 6, 10);
  });

  it('prefer counted breaches and frustrated figures over the buckets', () => {
    const agg = aggregateOf([0.2, 0.7]);
    agg.breaches = 1;
    agg.frustrated = 1;
    expect(breachesOf(agg, 0.5)).toBe(1);
    expect(apdexOf(agg, 0.5)).toBeCloseTo(0.5, 10);
  });

  it('have no Apdex without a target', () => {
    expect(apdexOf(aggregateOf([0.1]), undefined)).toBeUndefined();
  });
});

describe('mergeAggregate', () => {
  it('adds counts, sums and buckets and keeps the larger max, across different boundaries', () => {
    const a = aggregateOf([0.02, 0.3]);
    const b = aggregateOf([0.04, 3], [0.05, 0.25, 1, 4]);
    const merged = emptyAggregate(false);
    mergeAggregate(merged, a);
    mergeAggregate(merged, b);
    expect(merged.count).toBe(4);
    expect(merged.sum).toBeCloseTo(3.36, 10);
    expect(merged.max).toBe(3);
    expect([...merged.buckets.values()].reduce((x, y) => x + y, 0)).toBe(4);
  });
});
