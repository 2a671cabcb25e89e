/**
 * Budget test data: minutes of one operation's runs written as the telemetry writes them (the
 * Redis rollup store, with the budget lookup), or handed to a memory-only monitor.
 */
import type { Redis } from 'ioredis';
import { emptyAggregate } from '../../src/telemetry/aggregate.ts';
import { emptyTotals, type PendingMinute, type WindowTotals } from '../../src/telemetry/minutes.ts';
import { RedisRollupStore } from '../../src/telemetry/rollup.ts';

/** One minute of an operation: runs, and how many were over target / failed within target. */
export interface MinuteRuns {
  readonly minute: number;
  readonly runs: number;
  readonly over?: number;
  readonly failed?: number;
}

/** The totals of a minute of `operation` (the own service's), as the windows fold them. */
export function totalsOf(operation: string, m: MinuteRuns): WindowTotals {
  const totals = emptyTotals();
  const agg = emptyAggregate(true);
  agg.count = m.runs;
  agg.breaches = m.over ?? 0;
  agg.errors = m.failed ?? 0;
  agg.breachedErrors = 0;
  agg.sum = m.runs * 0.1;
  agg.buckets.set(0.25, m.runs);
  totals.operations.set(operation, agg);
  return totals;
}

/** A rollup store under `prefix` that writes budget counts with objective `objective` for every operation. */
export function budgetStore(
  client: Redis,
  prefix: string,
  objective = '0.999/30/1',
  badRun?: string,
): RedisRollupStore {
  return new RedisRollupStore({
    client,
    keyPrefix: prefix,
    retentionDays: 1,
    maxOperations: 100,
    budgets: () => ({ objective, badRun }),
  });
}

/** Writes minutes of `operation` with a 1 s target, as an instance's rollup exporter does. */
export async function writeMinutes(
  store: RedisRollupStore,
  operation: string,
  minutes: readonly MinuteRuns[],
): Promise<void> {
  const pending: PendingMinute[] = minutes.map((m) => {
    const totals = totalsOf(operation, m);
    return { minute: m.minute, operations: totals.operations, users: new Map() };
  });
  for (let i = 0; i < pending.length; i += 200) {
    const failed = await store.write(pending.slice(i, i + 200), () => 1);
    if (failed.length > 0) throw new Error(`${failed.length} minutes were not written`);
  }
}

/** Minutes `from` to `to` with `runs` runs each, `over` of them over target. */
export function minutes(from: number, to: number, runs: number, over = 0): MinuteRuns[] {
  const out: MinuteRuns[] = [];
  for (let m = from; m <= to; m++) out.push({ minute: m, runs, over });
  return out;
}
