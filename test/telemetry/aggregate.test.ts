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
