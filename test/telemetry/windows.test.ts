/** MinuteWindows over a real MeterProvider: one-minute granularity, retention and the point cap. */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { METRIC_OPERATION_DURATION } from '../../src/telemetry/semconv.ts';
import { MINUTE_MS, MinuteWindows } from '../../src/telemetry/windows.ts';

function setup(options: { retentionMinutes: number; maxPoints: number }) {
  let now = Date.UTC(2026, 10, 27, 12, 0, 30);
  const windows = new MinuteWindows({ ...options, targetOf: () => undefined, now: () => now });
  const provider = new MeterProvider({ readers: [windows.reader] });
  const histogram = provider.getMeter('t').createHistogram(METRIC_OPERATION_DURATION, { unit: 's' });
  const record = (op: string, seconds: number) =>
    histogram.record(seconds, { 'perf.operation': op, 'perf.outcome': 'ok', 'perf.target_exceeded': false });
  return {
    windows,
    record,
    minute: () => Math.floor(now / MINUTE_MS),
    advance(minutes: number) {
      now += minutes * MINUTE_MS;
    },
    close: () => provider.shutdown(),
  };
}

describe('MinuteWindows', () => {
  it('keeps each minute apart, so a window starts on the minute', async () => {
    const w = setup({ retentionMinutes: 60, maxPoints: 1000 });
    w.record('op', 0.1);
    await w.windows.collect();
    const first = w.minute();
    w.advance(2);
    w.record('op', 0.2);
    w.record('op', 0.3);
    await w.windows.collect();
    expect(w.windows.totals(first, w.minute()).operations.get('op')?.count).toBe(3);
    expect(w.windows.totals(first + 1, w.minute()).operations.get('op')?.count).toBe(2);
    expect(w.windows.totals(first + 1, w.minute()).firstMinute).toBe(w.minute());
    await w.close();
  });

  it('forgets minutes past the retention', async () => {
    const w = setup({ retentionMinutes: 5, maxPoints: 1000 });
    w.record('old', 0.1);
    await w.windows.collect();
    const first = w.minute();
    w.advance(10);
    w.record('new', 0.1);
    await w.windows.collect();
    const totals = w.windows.totals(first, w.minute());
    expect(totals.operations.has('old')).toBe(false);
    expect(totals.operations.get('new')?.count).toBe(1);
    await w.close();
  });

  it('drops the oldest minutes past maxPoints and counts what it dropped', async () => {
    const w = setup({ retentionMinutes: 600, maxPoints: 10 });
    const start = w.minute();
    for (let m = 0; m < 5; m++) {
      for (let i = 0; i < 4; i++) w.record(`op_${i}`, 0.1);
      await w.windows.collect();
      w.advance(1);
    }
    expect(w.windows.droppedPoints).toBeGreaterThan(0);
    const totals = w.windows.totals(start, w.minute());
    let kept = 0;
    for (const agg of totals.operations.values()) kept += agg.count;
    expect(kept).toBeLessThanOrEqual(12);
    expect(kept).toBeGreaterThan(0);
    await w.close();
  });
});
