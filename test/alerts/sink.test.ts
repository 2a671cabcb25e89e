import { afterEach, describe, expect, it } from 'vitest';
import { type AlertInput, AlertSink, alertRecordSchema, MemoryAlertStore } from '../../src/alerts/index.ts';
import { buildAlert, fingerprintOf } from '../../src/alerts/schema.ts';
import { trackOperation } from '../../src/telemetry/index.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestTelemetry | undefined;
let own: OwnRedis | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
  await own?.dispose();
  own = undefined;
});

/** A synchronous operation that always breaches: a 1 µs target around a little real work. */
function breach(name: string): number {
  return trackOperation(name, { targetSeconds: 0.000001 }, () => {
    let sum = 0;
    for (let i = 0; i < 20_000; i++) sum += i;
    return sum;
  });
}

async function startedOn(url: string, env: Record<string, string> = {}): Promise<TestTelemetry> {
  t = await startTestTelemetry({ REDIS_URL: url, ...env });
  const { telemetry } = t;
  await waitFor(() => telemetry.alerts.available, { what: 'the alert store to connect' });
  return t;
}

function input(overrides: Partial<AlertInput> = {}): AlertInput {
  return {
    type: 'target_exceeded',
    service: 'svc',
    operation: 'op',
    value: 3,
    threshold: 2,
    unit: 's',
    summary: 'Operation "op" took 3 s.',
    ...overrides,
  };
}

describe('alert records', () => {
  it('fingerprints identifying labels only, never values, times or trace ids', () => {
    const a = buildAlert(
      input({
        value: 3,
        timeMs: 1,
        trace: { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16), sampled: true },
      }),
    );
    const b = buildAlert(input({ value: 90, timeMs: 999_999 }));
    const c = buildAlert(input({ operation: 'other' }));
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(a.fingerprint).not.toBe(c.fingerprint);
    expect(a.id).not.toBe(b.id);
    expect(fingerprintOf({ alertname: 'X', service: 's' })).toBe(
      fingerprintOf({ service: 's', alertname: 'X' }),
    );
    expect(fingerprintOf({ a: 'b=c' })).not.toBe(fingerprintOf({ 'a=b': 'c' }));
  });

  it('takes extra labels into the fingerprint, never extra annotations, and keeps alertname and service', () => {
    const slow = (statement_hash: string, statement: string) =>
      buildAlert(
        input({
          type: 'slow_query',
          labels: { table: 'users', statement_hash, alertname: 'Spoofed', service: 'spoofed' },
          annotations: { statement, summary: 'ignored' },
        }),
      );
    const a = slow('aaaa', 'SELECT 1');
    expect(a.labels).toEqual({
      alertname: 'SlowQuery',
      service: 'svc',
      operation: 'op',
      table: 'users',
      statement_hash: 'aaaa',
    });
    expect(a.annotations).toEqual({ statement: 'SELECT 1', summary: 'Operation "op" took 3 s.' });
    expect(alertRecordSchema.parse(JSON.parse(JSON.stringify(a)))).toEqual(a);
    expect(slow('aaaa', 'SELECT 2').fingerprint).toBe(a.fingerprint);
    expect(slow('bbbb', 'SELECT 1').fingerprint).not.toBe(a.fingerprint);
  });

  it('is critical at four times the threshold and routes high_memory to memory_alerts', async () => {
    expect(buildAlert(input({ value: 7.9, threshold: 2 })).severity).toBe('warning');
    expect(buildAlert(input({ value: 8, threshold: 2 })).severity).toBe('critical');
    const sink = new AlertSink({
      store: new MemoryAlertStore(10),
      repeatSeconds: 60,
      bufferMax: 10,
      keyPrefix: 'p:',
    });
    sink.emit(input({ type: 'high_memory', operation: undefined, value: 900, threshold: 500, unit: 'MiB' }));
    sink.emit(input());
    await sink.flush();
    const memory = await sink.recent({ type: 'high_memory', limit: 10 });
    expect(memory).toHaveLength(1);
    expect(memory[0]?.labels.alertname).toBe('HighMemory');
    expect(sink.listName('memory_alerts')).toBe('p:memory_alerts');
    expect(await sink.recent({ limit: 10 })).toHaveLength(2);
    for (const record of await sink.recent({ limit: 10 })) alertRecordSchema.parse(record);
  });
});

describe('deduplication (real Redis)', () => {
  it('100 identical breaches within the window give one record whose repeats counts them', async () => {
    const tt = await startedOn(TEST_REDIS_URL);
    for (let i = 0; i < 60; i++) breach('dedup_op');
    await tt.telemetry.alerts.flush();
    // A second burst after the first write: folded into the written record, in place.
    for (let i = 0; i < 40; i++) breach('dedup_op');
    await tt.telemetry.alerts.flush();

    const records = await tt.list(tt.performanceList);
    expect(records).toHaveLength(1);
    const record = alertRecordSchema.parse(records[0]);
    expect(record.repeats).toBe(100);
    expect(record.lastSeenAt >= record.startsAt).toBe(true);
    expect(tt.telemetry.alerts.stats()).toMatchObject({ emitted: 100, folded: 99, buffered: 0, dropped: 0 });
  });

  it('a record a consumer already took is pushed again with the same id and the full count', async () => {
    const tt = await startedOn(TEST_REDIS_URL);
    breach('taken_op');
    await tt.telemetry.alerts.flush();
    const taken = alertRecordSchema.parse(JSON.parse((await tt.redis.rpop(tt.performanceList)) ?? 'null'));
    breach('taken_op');
    await tt.telemetry.alerts.flush();
    const [again] = await tt.list(tt.performanceList);
    const record = alertRecordSchema.parse(again);
    expect(record.id).toBe(taken.id);
    expect(record.repeats).toBe(2);
  });

  it('ALERT_REPEAT_SECONDS=0 writes every alert as its own record', async () => {
    const tt = await startedOn(TEST_REDIS_URL, { ALERT_REPEAT_SECONDS: '0' });
    for (let i = 0; i < 5; i++) breach('every_op');
    await tt.telemetry.alerts.flush();
    const records = await tt.list(tt.performanceList);
    expect(records).toHaveLength(5);
    expect(new Set(records.map((r) => r.id)).size).toBe(5);
  });

  it('trims each list to ALERT_LIST_MAX, newest first', async () => {
    const tt = await startedOn(TEST_REDIS_URL, { ALERT_LIST_MAX: '3' });
    for (let i = 0; i < 7; i++) breach(`trim_${i}`);
    await tt.telemetry.alerts.flush();
    const records = await tt.list(tt.performanceList);
    expect(records.map((r) => (r.labels as Record<string, string>).operation)).toEqual([
      'trim_6',
      'trim_5',
      'trim_4',
    ]);
  });
});

describe('Redis unavailable (own redis-server, stopped and restarted)', () => {
  it('operations return at once and throw nothing; alerts wait and arrive in order after restart', async () => {
    own = await OwnRedis.start();
    const tt = await startedOn(own.url);
    await own.stop();
    await waitFor(() => !tt.telemetry.alerts.available, { what: 'the sink to see Redis gone' });

    // All 20 operations complete within one synchronous block: nothing on the alert path waits.
    let turned = false;
    setImmediate(() => {
      turned = true;
    });
    const results = Array.from({ length: 20 }, (_, i) => breach(`outage_${i}`));
    expect(turned).toBe(false);
    expect(results.every((r) => r === 199_990_000)).toBe(true);
    // An async operation resolves with its value too.
    await expect(trackOperation('outage_async', { targetSeconds: 10 }, async () => 'ok')).resolves.toBe('ok');

    await tt.telemetry.alerts.flush();
    expect(tt.telemetry.alerts.stats()).toMatchObject({ buffered: 20, dropped: 0 });

    await own.start();
    const records = await waitFor(
      async () => {
        const list = await tt.list(tt.performanceList);
        return list.length === 20 ? list : undefined;
      },
      { what: 'the buffered alerts to arrive', timeoutMs: 15_000 },
    );
    const operations = records.map((r) => (r.labels as Record<string, string>).operation).reverse();
    expect(operations).toEqual(Array.from({ length: 20 }, (_, i) => `outage_${i}`));
    expect(tt.telemetry.alerts.stats()).toMatchObject({ buffered: 0, dropped: 0 });
  });

  it('past ALERT_BUFFER_MAX the oldest records are dropped and counted', async () => {
    own = await OwnRedis.start();
    const tt = await startedOn(own.url, { ALERT_BUFFER_MAX: '5' });
    await own.stop();
    await waitFor(() => !tt.telemetry.alerts.available, { what: 'the sink to see Redis gone' });
    for (let i = 0; i < 8; i++) breach(`capped_${i}`);
    expect(tt.telemetry.alerts.stats()).toMatchObject({ buffered: 5, dropped: 3 });
    expect(await tt.telemetry.renderPrometheus()).toMatch(
      /perf_alerts_dropped_total\{[^}]*alert_type="target_exceeded"[^}]*\} 3/,
    );

    await own.start();
    const records = await waitFor(
      async () => {
        const list = await tt.list(tt.performanceList);
        return list.length === 5 ? list : undefined;
      },
      { what: 'the kept alerts to arrive', timeoutMs: 15_000 },
    );
    expect(records.map((r) => (r.labels as Record<string, string>).operation).reverse()).toEqual([
      'capped_3',
      'capped_4',
      'capped_5',
      'capped_6',
      'capped_7',
    ]);
  });
});

describe('memory-only mode', () => {
  it('keeps the same records in a bounded in-process list', async () => {
    const tt = await startTestTelemetry({ REDIS_URL: '', ALERT_LIST_MAX: '4' });
    t = tt;
    expect(tt.telemetry.memoryOnly).toBe(true);
    for (let i = 0; i < 6; i++) breach(`mem_${i}`);
    for (let i = 0; i < 3; i++) breach('mem_5');
    await tt.telemetry.alerts.flush();
    const recent = await tt.telemetry.alerts.recent({ limit: 10 });
    expect(recent.map((r) => r.labels.operation)).toEqual(['mem_5', 'mem_4', 'mem_3', 'mem_2']);
    expect(recent[0]?.repeats).toBe(4);
    expect(await tt.redis.exists(tt.performanceList)).toBe(0);
  });
});
