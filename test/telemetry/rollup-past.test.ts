/**
 * What a rollup store keeps of the tier hashes between reports (rollup-past.ts): nothing read
 * under an older version is kept under a newer one, the bounds hold for empty hashes too, and the
 * late-write rule covers what a reader keeps.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { emptyAggregate } from '../../src/telemetry/aggregate.ts';
import {
  isPastPeriod,
  KeptPeriods,
  PAST_PERIODS_MAX_AGGREGATES,
  touchesPast,
} from '../../src/telemetry/rollup-past.ts';
import { emptyTierTotals, type TierTotals } from '../../src/telemetry/rollup-tiers.ts';

function totalsOf(operations: number): TierTotals {
  const totals = emptyTierTotals();
  for (let i = 0; i < operations; i++) totals.operations.set(`op_${i}`, emptyAggregate(true));
  return totals;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('KeptPeriods', () => {
  it('does not keep what a read made under a version that has since moved', () => {
    const kept = new KeptPeriods(100);
    kept.sync('1');
    const older = totalsOf(1);
    // A second read synced to version 2 while the first was reading.
    kept.sync('2');
    kept.set('h', older, '1');
    expect(kept.get('h')).toBeUndefined();
    const newer = totalsOf(1);
    kept.set('h', newer, '2');
    expect(kept.get('h')).toBe(newer);
    kept.sync('3');
    expect(kept.get('h')).toBeUndefined();
  });

  it('bounds the aggregates held, counting an empty hash as one, least recently used out first', () => {
    const kept = new KeptPeriods(10);
    kept.sync(null);
    for (let i = 0; i < 50; i++) kept.set(`empty_${i}`, totalsOf(0), null);
    expect(kept.aggregates).toBe(10);
    kept.set('big', totalsOf(6), null);
    expect(kept.aggregates).toBeLessThanOrEqual(10);
    expect(kept.get('big')?.operations.size).toBe(6);
    expect(kept.get('empty_0')).toBeUndefined();
    expect(kept.get('empty_49')).toBeDefined();
    kept.set('too big', totalsOf(11), null);
    expect(kept.get('too big')).toBeUndefined();
    expect(PAST_PERIODS_MAX_AGGREGATES).toBeGreaterThan(0);
  });
});

describe('the late-write rule', () => {
  it('bumps for every minute a reader may keep, whatever its writer clock is off by, up to 30 minutes', () => {
    const now = Math.floor(Date.UTC(2026, 11, 2, 12, 0) / 60_000);
    // The reader's clock at `now`: the newest minute it keeps ends over 45 minutes ago.
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(now * 60_000);
    const newestKept = [...Array(120).keys()].map((i) => now - i).find((m) => isPastPeriod(m)) as number;
    expect(now - newestKept).toBeGreaterThanOrEqual(45);
    // A writer whose clock (plus the time its write is in flight) is up to 30 minutes behind.
    for (const behind of [0, 10, 29]) {
      vi.setSystemTime((now - behind) * 60_000);
      expect(touchesPast(newestKept), `writer ${behind} minutes behind`).toBe(true);
    }
    // A write of the current minute by a writer on time does not bump.
    vi.setSystemTime(now * 60_000);
    expect(touchesPast(now - 1)).toBe(false);
  });
});
