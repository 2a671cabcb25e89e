/** MinuteWindows over a real MeterProvider: one-minute granularity, retention and the point cap. */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { METRIC_OPERATION_DURATION } from '../../src/telemetry/semconv.ts';
import {
  MINUTE_MS,
  MinuteWindows,
  type PendingMinute,
  type RollupWriter,
} from '../../src/telemetry/windows.ts';
import { waitFor } from '../helpers/wait.ts';

function setup(options: { retentionMinutes: number; maxPoints: number; rollups?: RollupWriter }) {
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

/** Counts written per operation; `gate` holds the first write until released. */
function recordingWriter() {
  const written = new Map<string, number>();
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  let calls = 0;
  const writer: RollupWriter = {
    async write(minutes: readonly PendingMinute[]) {
      calls++;
      if (calls === 1) await gate;
      for (const m of minutes)
        for (const [op, agg] of m.operations) written.set(op, (written.get(op) ?? 0) + agg.count);
      return [];
    },
  };
  return { writer, written, release, calls: () => calls };
}

describe('MinuteWindows rollup writes', () => {
  it('a flush asked for during a running write writes what was collected after it started', async () => {
    const r = recordingWriter();
    const w = setup({ retentionMinutes: 60, maxPoints: 1000, rollups: r.writer });
    w.record('op', 0.1);
    await w.windows.collect();
    const first = w.windows.flush();
    await waitFor(() => w.windows.writing, { what: 'the first write to start' });
    w.record('op', 0.1);
    const stopped = w.windows.stop();
    r.release();
    await first;
    await stopped;
    expect(r.written.get('op')).toBe(2);
    expect(r.calls()).toBe(2);
    expect(w.windows.pending(0)).toHaveLength(0);
    await w.close();
  });

  it('queues again only the parts the store reports as not written', async () => {
    const written = new Map<string, number>();
    let failB = true;
    const writer: RollupWriter = {
      async write(minutes: readonly PendingMinute[]) {
        const failed: PendingMinute[] = [];
        for (const m of minutes) {
          for (const [op, agg] of m.operations) {
            if (op === 'op_b' && failB)
              failed.push({ minute: m.minute, operations: new Map([[op, agg]]), users: new Map() });
            else written.set(op, (written.get(op) ?? 0) + agg.count);
          }
        }
        return failed;
      },
    };
    const w = setup({ retentionMinutes: 60, maxPoints: 1000, rollups: writer });
    w.record('op_a', 0.1);
    w.record('op_b', 0.1);
    await w.windows.collect();
    await expect(w.windows.flush()).rejects.toThrow(/not written/);
    expect(w.windows.pending(0).flatMap((m) => [...m.operations.keys()])).toEqual(['op_b']);
    failB = false;
    await w.windows.flush();
    expect(Object.fromEntries(written)).toEqual({ op_a: 1, op_b: 1 });
    await w.close();
  });

  it('caps the current minute too: new series past maxPoints fold into _other', async () => {
    const w = setup({ retentionMinutes: 60, maxPoints: 5 });
    for (let i = 0; i < 20; i++) w.record(`many_${i}`, 0.1);
    await w.windows.collect();
    const totals = w.windows.totals(w.minute(), w.minute());
    expect(totals.operations.size).toBeLessThanOrEqual(6);
    expect(totals.operations.get('_other')?.count).toBe(15);
    expect(w.windows.droppedPoints).toBeGreaterThan(0);
    await w.close();
  });
});
