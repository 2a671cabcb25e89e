/**
 * The windows reader over a real MeterProvider: one-minute granularity, retention, the point cap,
 * and what it hands to its exporter.
 */
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { describe, expect, it } from 'vitest';
import { MINUTE_MS, type PendingMinute } from '../../src/telemetry/minutes.ts';
import { METRIC_OPERATION_DURATION, METRIC_SERVICE_HTTP_DURATION } from '../../src/telemetry/semconv.ts';
import { type MinuteExporter, MinuteWindows } from '../../src/telemetry/windows.ts';

function setup(options: {
  retentionMinutes: number;
  maxPoints: number;
  exporter?: MinuteExporter;
  service?: string;
}) {
  let now = Date.UTC(2026, 10, 27, 12, 0, 30);
  const windows = new MinuteWindows({ ...options, now: () => now });
  const provider = new MeterProvider({ readers: [windows.reader] });
  const meter = provider.getMeter('t');
  const histogram = meter.createHistogram(METRIC_OPERATION_DURATION, { unit: 's' });
  const requests = meter.createHistogram(METRIC_SERVICE_HTTP_DURATION, { unit: 's' });
  const record = (op: string, seconds: number, service?: string) =>
    histogram.record(seconds, {
      'perf.operation': op,
      'perf.outcome': 'ok',
      'perf.target_exceeded': false,
      ...(service !== undefined ? { 'service.name': service } : {}),
    });
  const request = (service: string, route: string, outcome: 'ok' | 'error') =>
    requests.record(0.1, {
      'service.name': service,
      'http.request.method': 'GET',
      'http.route': route,
      'perf.outcome': outcome,
    });
  return {
    windows,
    record,
    request,
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

  it('hands the operation data of each collection to its exporter, stamped with its minute', async () => {
    const exported: PendingMinute[] = [];
    let flushes = 0;
    let shutdowns = 0;
    const exporter: MinuteExporter = {
      export: (minute) => exported.push(minute),
      forceFlush: async () => {
        flushes++;
      },
      shutdown: async () => {
        shutdowns++;
      },
    };
    const w = setup({ retentionMinutes: 60, maxPoints: 1000, exporter });
    w.record('op', 0.1);
    w.record('op', 0.2);
    await w.windows.collect();
    // Nothing recorded since: nothing handed over.
    await w.windows.collect();
    w.advance(1);
    w.record('other', 0.1);
    await w.windows.flush();
    expect(
      exported.map((m) => [m.minute, Object.fromEntries([...m.operations].map(([k, a]) => [k, a.count]))]),
    ).toEqual([
      [w.minute() - 1, { op: 2 }],
      [w.minute(), { other: 1 }],
    ]);
    expect(flushes).toBe(1);
    w.record('last', 0.1);
    await w.windows.stop();
    expect(exported.at(-1)?.operations.get('last')?.count).toBe(1);
    expect(shutdowns).toBe(1);
    await w.close();
  });

  it('keeps each service apart: the own one at the top, the others by name, requests in memory only', async () => {
    const exported: PendingMinute[] = [];
    const exporter: MinuteExporter = {
      export: (minute) => exported.push(minute),
      forceFlush: async () => undefined,
      shutdown: async () => undefined,
    };
    const w = setup({ retentionMinutes: 60, maxPoints: 1000, service: 'own', exporter });
    w.record('op', 0.1);
    w.record('op', 0.2, 'own');
    w.record('op', 0.3, 'checkout');
    w.record('pay', 0.3, 'checkout');
    w.record('op', 0.4, 'billing');
    w.request('checkout', '/cart', 'ok');
    w.request('checkout', '/cart', 'error');
    await w.windows.collect();
    const totals = w.windows.totals(w.minute(), w.minute());
    expect(totals.operations.get('op')?.count).toBe(2);
    expect([...totals.services.keys()].sort()).toEqual(['billing', 'checkout']);
    const checkout = totals.services.get('checkout');
    expect(Object.fromEntries([...(checkout?.operations ?? [])].map(([k, a]) => [k, a.count]))).toEqual({
      op: 1,
      pay: 1,
    });
    expect(checkout?.http.get('GET /cart')).toMatchObject({ count: 2, errors: 1 });
    expect(totals.services.get('billing')?.operations.get('op')?.max).toBe(0.4);
    // What goes on to the rollups: operations per service, no requests.
    const minute = exported[0];
    expect(minute?.operations.get('op')?.count).toBe(2);
    expect(minute?.services?.get('checkout')?.operations.get('pay')?.count).toBe(1);
    expect(Object.keys(minute?.services?.get('checkout') ?? {}).sort()).toEqual(['operations', 'users']);
    await w.close();
  });

  it('counts every service against the one point cap', async () => {
    const w = setup({ retentionMinutes: 60, maxPoints: 4, service: 'own' });
    for (const service of ['a', 'b', 'c']) for (const op of ['x', 'y']) w.record(op, 0.1, service);
    await w.windows.collect();
    const totals = w.windows.totals(w.minute(), w.minute());
    let series = 0;
    let count = 0;
    for (const part of totals.services.values()) {
      series += part.operations.size;
      for (const agg of part.operations.values()) count += agg.count;
    }
    expect(count).toBe(6);
    // Four series of their own, then one `_other` in the service that came past the cap.
    expect(series).toBe(5);
    expect(w.windows.droppedPoints).toBeGreaterThan(0);
    expect([...totals.services.values()].some((part) => part.operations.has('_other'))).toBe(true);
    await w.close();
  });
});
