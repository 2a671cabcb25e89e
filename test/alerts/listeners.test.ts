/**
 * The sink's live listeners: called synchronously with every record created or updated (a folded
 * repeat as a copy with its count and time), never throwing into `emit()`, bounded in number; and
 * `trackOperation` breaches reach them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertInput,
  AlertListenersFullError,
  type AlertRecord,
  AlertSink,
  MAX_ALERT_LISTENERS,
  MemoryAlertStore,
} from '../../src/alerts/index.ts';
import { trackOperation } from '../../src/telemetry/index.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

function sink(): AlertSink {
  return new AlertSink({
    store: new MemoryAlertStore(100),
    repeatSeconds: 60,
    bufferMax: 100,
    keyPrefix: '',
  });
}

function input(timeMs: number, overrides: Partial<AlertInput> = {}): AlertInput {
  return {
    type: 'target_exceeded',
    service: 'svc',
    operation: 'op',
    value: 3,
    threshold: 2,
    unit: 's',
    summary: 'Operation "op" took 3 s.',
    timeMs,
    ...overrides,
  };
}

describe('AlertSink.subscribe', () => {
  it('hands each new record and each repeat (same id, counted, as a copy) to the listener at once', () => {
    const s = sink();
    const seen: AlertRecord[] = [];
    const unsubscribe = s.subscribe((r) => seen.push(r));
    const start = Date.UTC(2026, 0, 1);
    s.emit(input(start));
    s.emit(input(start + 5000));
    s.emit(input(start + 1000, { operation: 'other' }));
    expect(seen.map((r) => [r.labels.operation, r.repeats])).toEqual([
      ['op', 1],
      ['op', 2],
      ['other', 1],
    ]);
    expect(seen[1]?.id).toBe(seen[0]?.id);
    expect(seen[1]?.lastSeenAt).toBe(new Date(start + 5000).toISOString());
    // Copies: the sink's record changed in place, the first copy did not.
    expect(seen[0]?.repeats).toBe(1);
    unsubscribe();
    unsubscribe();
    expect(s.listenerCount).toBe(0);
    s.emit(input(start + 2000, { operation: 'third' }));
    expect(seen).toHaveLength(3);
  });

  it('logs a listener that throws and still reaches the others and the store', async () => {
    const s = sink();
    const seen: string[] = [];
    s.subscribe(() => {
      throw new Error('listener bug');
    });
    s.subscribe((r) => seen.push(r.labels.operation ?? ''));
    expect(() => s.emit(input(Date.now()))).not.toThrow();
    expect(seen).toEqual(['op']);
    await s.flush();
    expect(s.stats().written).toBe(1);
  });

  it(`refuses listener ${MAX_ALERT_LISTENERS + 1} with a clear error`, () => {
    const s = sink();
    const offs = Array.from({ length: MAX_ALERT_LISTENERS }, () => s.subscribe(() => undefined));
    expect(() => s.subscribe(() => undefined)).toThrow(AlertListenersFullError);
    expect(() => s.subscribe(() => undefined)).toThrow(/already has 100 listeners/);
    offs[0]?.();
    expect(() => s.subscribe(() => undefined)).not.toThrow();
  });

  it('notify() hands a record written elsewhere to the listeners', () => {
    const s = sink();
    const seen: AlertRecord[] = [];
    s.subscribe((r) => seen.push(r));
    const record = { id: 'x' } as AlertRecord;
    s.notify(record);
    expect(seen).toEqual([record]);
  });

  it('sees a trackOperation breach', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const seen: AlertRecord[] = [];
    t.telemetry.alerts.subscribe((r) => seen.push(r));
    trackOperation('listened_op', { targetSeconds: 0.000001 }, () => {
      let sum = 0;
      for (let i = 0; i < 20_000; i++) sum += i;
      return sum;
    });
    expect(seen.map((r) => [r.type, r.labels.operation])).toEqual([['target_exceeded', 'listened_op']]);
  });
});
