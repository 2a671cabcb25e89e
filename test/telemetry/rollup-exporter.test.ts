/**
 * The rollup exporter: its queue of unsaved minutes, one write at a time, retries of only what
 * failed, and its bound.
 */
import { describe, expect, it } from 'vitest';
import { emptyAggregate } from '../../src/telemetry/aggregate.ts';
import type { PendingMinute } from '../../src/telemetry/minutes.ts';
import { RollupExporter, type RollupWriter } from '../../src/telemetry/rollup-exporter.ts';
import { waitFor } from '../helpers/wait.ts';

const MINUTE = Math.floor(Date.UTC(2026, 10, 27, 12, 0) / 60_000);

/** One minute with one duration of `seconds` per operation. */
function minute(at: number, ...operations: string[]): PendingMinute {
  const map = new Map(
    operations.map((op) => {
      const agg = emptyAggregate(true);
      agg.count = 1;
      agg.sum = 0.1;
      agg.max = 0.1;
      agg.buckets.set(0.25, 1);
      return [op, agg];
    }),
  );
  return { minute: at, operations: map, users: new Map() };
}

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

function exporterOf(writer: RollupWriter, maxPoints = 1000): RollupExporter {
  return new RollupExporter({ writer, maxPoints, targetOf: () => undefined });
}

describe('RollupExporter', () => {
  it('a flush asked for during a running write writes what was exported after it started', async () => {
    const r = recordingWriter();
    const exporter = exporterOf(r.writer);
    exporter.export(minute(MINUTE, 'op'));
    const first = exporter.forceFlush();
    await waitFor(() => exporter.writing, { what: 'the first write to start' });
    const epoch = exporter.writeEpoch;
    expect(exporter.pending(0).flatMap((m) => [...m.operations.keys()])).toEqual(['op']);
    exporter.export(minute(MINUTE, 'op'));
    const last = exporter.shutdown();
    r.release();
    await first;
    await last;
    expect(r.written.get('op')).toBe(2);
    expect(r.calls()).toBe(2);
    expect(exporter.writeEpoch).toBe(epoch + 1);
    expect(exporter.pending(0)).toHaveLength(0);
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
    const exporter = exporterOf(writer);
    exporter.export(minute(MINUTE, 'op_a', 'op_b'));
    await expect(exporter.forceFlush()).rejects.toThrow(/not written/);
    expect(exporter.pending(0).flatMap((m) => [...m.operations.keys()])).toEqual(['op_b']);
    failB = false;
    await exporter.forceFlush();
    expect(Object.fromEntries(written)).toEqual({ op_a: 1, op_b: 1 });
    expect(exporter.pending(0)).toHaveLength(0);
  });

  it('keeps everything queued when the write rejects, merged with what came meanwhile', async () => {
    let fail = true;
    const written: number[] = [];
    const writer: RollupWriter = {
      async write(minutes: readonly PendingMinute[]) {
        if (fail) throw new Error('redis is down');
        for (const m of minutes) written.push(m.operations.get('op')?.count ?? 0);
        return [];
      },
    };
    const exporter = exporterOf(writer);
    exporter.export(minute(MINUTE, 'op'));
    await expect(exporter.forceFlush()).rejects.toThrow('redis is down');
    await exporter.settled();
    exporter.export(minute(MINUTE, 'op'));
    expect(exporter.pending(0)).toHaveLength(1);
    fail = false;
    await exporter.forceFlush();
    expect(written).toEqual([2]);
  });

  it('drops the oldest unsaved minutes past maxPoints and folds new series of a full queue into _other', async () => {
    const writer: RollupWriter = {
      write: async () => {
        throw new Error('unreachable');
      },
    };
    const exporter = exporterOf(writer, 3);
    exporter.export(minute(MINUTE, 'a', 'b'));
    expect(exporter.droppedPoints).toBe(0);
    exporter.export(minute(MINUTE + 1, 'c', 'd'));
    // `d` found the queue full (3 entries) and went to `_other`, the fourth entry; four entries
    // are past the cap, so the oldest minute (two entries) went.
    expect(exporter.droppedPoints).toBe(3);
    expect(exporter.pending(0).map((m) => [m.minute, [...m.operations.keys()]])).toEqual([
      [MINUTE + 1, ['c', '_other']],
    ]);
    exporter.export(minute(MINUTE + 2, 'e'));
    expect(exporter.pending(0).map((m) => m.minute)).toEqual([MINUTE + 1, MINUTE + 2]);
    expect(exporter.droppedPoints).toBe(3);
  });
});
