/**
 * The sink's write side against the real Redis: writes kept in flight up to their bound, records in
 * order, failed writes put back in order, every drop counted. The stores are real
 * `RedisAlertStore`s (a failing one is an ioredis client on a closed port); `ProbeStore` only routes
 * each write to one of them and counts how many are in flight.
 */
import { createHash, randomUUID } from 'node:crypto';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type AlertInput,
  AlertSink,
  type AlertStore,
  RedisAlertStore,
  type ScannedEntry,
  type StoreWrite,
} from '../../src/alerts/index.ts';
import { RingQueue } from '../../src/alerts/queue.ts';
import { fingerprintOf, isoTimeOf } from '../../src/alerts/schema.ts';
import { METRIC_ALERTS_DROPPED } from '../../src/alerts/semconv.ts';
import { targetAlert } from '../helpers/alerts.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { freePort } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

/** Routes each write (numbered from 1) to a store and counts the writes in flight. */
class ProbeStore implements AlertStore {
  readonly available = true;
  readonly writesInCallOrder: boolean;
  readonly #route: (call: number) => AlertStore;
  readonly #home: AlertStore;
  /** Writes started so far. */
  calls = 0;
  /** Writes started and not settled. */
  inFlight = 0;
  /** Most writes in flight at once. */
  peak = 0;
  /** While set, writes wait for it before reaching their store (in call order). */
  gate: Promise<void> | undefined;

  constructor(home: AlertStore, inCallOrder: boolean, route: (call: number) => AlertStore = () => home) {
    this.#home = home;
    this.writesInCallOrder = inCallOrder;
    this.#route = route;
  }

  async write(writes: readonly StoreWrite[]): Promise<void> {
    const target = this.#route(++this.calls);
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      if (this.gate) await this.gate;
      await target.write(writes);
    } finally {
      this.inFlight--;
    }
  }

  scan(list: string, start: number, count: number, maxEntryBytes: number): Promise<ScannedEntry[]> {
    return this.#home.scan(list, start, count, maxEntryBytes);
  }

  onAvailable(): void {
    // Always available: the routed-to store decides whether a write succeeds.
  }

  close(): Promise<void> {
    return this.#home.close();
  }
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

/** A `RedisAlertStore` on the test Redis, ready. */
async function redisStore(): Promise<RedisAlertStore> {
  const client = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  await waitFor(() => client.status === 'ready', { what: 'the test Redis' });
  return new RedisAlertStore({ client, listMax: 100_000, ownsClient: true });
}

/** A `RedisAlertStore` whose ioredis client points at a port nobody listens on: every write fails. */
async function closedPortStore(): Promise<RedisAlertStore> {
  const client = new Redis(`redis://127.0.0.1:${await freePort()}`, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  await waitFor(() => client.status === 'end', { what: 'the closed-port client to give up' });
  const store = new RedisAlertStore({ client, listMax: 100_000, ownsClient: true });
  closers.push(() => store.close());
  return store;
}

/** A sink over `store` with its own prefix; closed and its keys deleted after the test. */
function sinkOn(store: AlertStore, options: Partial<ConstructorParameters<typeof AlertSink>[0]> = {}) {
  const keyPrefix = `perf-test:${randomUUID()}:`;
  const sink = new AlertSink({ store, repeatSeconds: 0, bufferMax: 10_000, keyPrefix, ...options });
  const admin = new Redis(TEST_REDIS_URL);
  closers.push(async () => {
    await sink.close();
    await admin.del(sink.listName('performance_alerts'), sink.listName('memory_alerts'));
    await admin.quit();
  });
  /** Operations of the performance list, oldest first. */
  const operations = async () =>
    (await admin.lrange(sink.listName('performance_alerts'), 0, -1))
      .map((text) => (JSON.parse(text) as { labels: { operation: string } }).labels.operation)
      .reverse();
  return { sink, admin, operations };
}

const alert = (i: number | string): AlertInput => targetAlert(i);

const ops = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `op_${from + i}`);

describe('pipelined writes (real Redis)', () => {
  it('keeps at most maxWritesInFlight writes in flight and writes every record in order', async () => {
    const probe = new ProbeStore(await redisStore(), true);
    const { sink, operations } = sinkOn(probe, { batchSize: 10, maxWritesInFlight: 3 });
    for (let i = 0; i < 200; i++) sink.emit(alert(i));
    await sink.flush();
    // Exactly the bound: more would break it, fewer would mean the writes were not pipelined.
    expect(probe.peak).toBe(3);
    expect(probe.calls).toBe(20);
    expect(sink.stats()).toMatchObject({
      written: 200,
      buffered: 0,
      writing: 0,
      dropped: 0,
      failedWrites: 0,
    });
    expect(await operations()).toEqual(ops(0, 200));
  });

  it('sends one write at a time to a store that does not promise call order', async () => {
    const probe = new ProbeStore(await redisStore(), false);
    const { sink, operations } = sinkOn(probe, { batchSize: 10, maxWritesInFlight: 3 });
    for (let i = 0; i < 50; i++) sink.emit(alert(i));
    await sink.flush();
    expect(probe.peak).toBe(1);
    expect(await operations()).toEqual(ops(0, 50));
  });

  it('puts the records of failed writes back in order and loses none', async () => {
    const good = await redisStore();
    const bad = await closedPortStore();
    let broken = true;
    // The first write succeeds, the two pipelined behind it fail for real (no connection).
    const probe = new ProbeStore(good, true, (call) => (call > 1 && broken ? bad : good));
    const { sink, operations } = sinkOn(probe, { batchSize: 10, maxWritesInFlight: 3 });
    for (let i = 0; i < 50; i++) sink.emit(alert(i));
    await sink.flush();
    expect(probe.peak).toBe(3);
    expect(sink.stats()).toMatchObject({
      written: 10,
      buffered: 40,
      writing: 0,
      dropped: 0,
      failedWrites: 2,
    });
    expect(await operations()).toEqual(ops(0, 10));

    broken = false;
    await waitFor(() => sink.stats().written === 50, { what: 'the retry to write the rest' });
    expect(await operations()).toEqual(ops(0, 50));
    // A retry that ran before `broken` was cleared failed too and put its records back the same way.
    expect(sink.stats()).toMatchObject({ buffered: 0, writing: 0, dropped: 0 });
    expect(sink.stats().failedWrites).toBeGreaterThanOrEqual(2);
  });

  it('counts every record dropped while writes are in flight, in the stats and the metric', async () => {
    const reader = new TestReader();
    const meter = new MeterProvider({ readers: [reader] }).getMeter('test');
    const probe = new ProbeStore(await redisStore(), true);
    const { sink, operations } = sinkOn(probe, { batchSize: 10, maxWritesInFlight: 2, bufferMax: 30, meter });
    for (let i = 0; i < 20; i++) sink.emit(alert(i));
    const flushed = sink.flush();
    expect(probe.inFlight).toBe(2);
    // Emits outrun the writes: the buffer keeps the newest 30 of these 60.
    for (let i = 20; i < 80; i++) sink.emit(alert(i));
    expect(sink.stats()).toMatchObject({ buffered: 30, writing: 20, dropped: 30 });
    await flushed;
    await sink.flush();

    const stats = sink.stats();
    expect(stats).toMatchObject({ emitted: 80, written: 50, buffered: 0, writing: 0, dropped: 30 });
    expect(await operations()).toEqual([...ops(0, 20), ...ops(50, 80)]);
    const { resourceMetrics } = await reader.collect();
    const dropped = resourceMetrics.scopeMetrics
      .flatMap((scope) => scope.metrics)
      .find((metric) => metric.descriptor.name === METRIC_ALERTS_DROPPED);
    expect(dropped?.descriptor.description).toMatch(/faster than they were written/);
    expect(dropped?.dataPoints.map((point) => [point.attributes['alert.type'], point.value])).toEqual([
      ['target_exceeded', 30],
    ]);
  });

  it('an update sent while the record’s first write is in flight replaces it: one record, full count', async () => {
    const probe = new ProbeStore(await redisStore(), true);
    const { sink, admin } = sinkOn(probe, { repeatSeconds: 60, batchSize: 1, maxWritesInFlight: 2 });
    let open: () => void = () => undefined;
    probe.gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    sink.emit(alert('same'));
    const flushed = sink.flush();
    sink.emit(alert('same'));
    // The repeat goes out in a second write while the first still waits at the gate.
    await waitFor(() => probe.calls === 2, { what: 'the update to be sent' });
    expect(probe.inFlight).toBe(2);
    open();
    await flushed;
    await sink.flush();

    const entries = await admin.lrange(sink.listName('performance_alerts'), 0, -1);
    expect(entries).toHaveLength(1);
    expect(JSON.parse(entries[0] ?? 'null')).toMatchObject({ repeats: 2 });
    expect(sink.stats()).toMatchObject({ emitted: 2, folded: 1, written: 2, failedWrites: 0 });
  });
});

/** A reader whose collections the test takes itself. */
class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

describe('RingQueue', () => {
  it('keeps order across wrap-around, growth, put-backs and takes', () => {
    const queue = new RingQueue<number>();
    const model: number[] = [];
    let next = 0;
    // A fixed pattern that wraps the 16-slot ring many times and grows it past 1024 slots.
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < (round % 7) + 3 + (round < 200 ? 5 : 0); i++) {
        queue.push(next);
        model.push(next++);
      }
      if (round % 5 === 0) {
        const taken = queue.take(4);
        expect(taken).toEqual(model.splice(0, 4));
        for (let i = taken.length - 1; i >= 0; i--) queue.unshift(taken[i] as number);
        model.unshift(...taken);
      }
      const shifts = round < 200 ? 3 : 14;
      for (let i = 0; i < shifts; i++) expect(queue.shift()).toBe(model.shift());
      expect(queue.length).toBe(model.length);
    }
    expect(queue.take(model.length + 10)).toEqual(model);
    expect(queue.length).toBe(0);
    expect(queue.shift()).toBeUndefined();
  });
});

describe('cached record parts', () => {
  it('isoTimeOf gives exactly what Date#toISOString gives, and throws where it throws', () => {
    const base = Date.UTC(2026, 11, 2, 19, 30, 1, 0);
    const values = [
      0,
      -0,
      1.7,
      -1.7,
      -1,
      -999,
      -1000,
      -1001,
      999.999,
      base,
      base + 1,
      base + 9,
      base + 10,
      base + 99,
      base + 100,
      base + 999,
      base + 1000,
      base - 1,
      base,
      Date.UTC(9999, 11, 31, 23, 59, 59, 999),
      Date.UTC(10000, 0, 1),
      -62_198_755_200_001,
      8.64e15,
      -8.64e15,
    ];
    for (let i = 0; i < 5000; i++) values.push(base + i * 7.3);
    for (const ms of values) expect(isoTimeOf(ms), String(ms)).toBe(new Date(ms).toISOString());
    for (const ms of [Number.NaN, Number.POSITIVE_INFINITY, 8.64e15 + 1, -8.64e15 - 1]) {
      expect(() => new Date(ms).toISOString()).toThrow(RangeError);
      expect(() => isoTimeOf(ms)).toThrow(RangeError);
    }
  });

  it('fingerprintOf gives the SHA-256 of the sorted pairs, cached or not, in any insertion order', () => {
    const reference = (labels: Record<string, string>) => {
      let text = '';
      for (const key of Object.keys(labels).sort()) text += `${key}\u0000${labels[key]}\u0001`;
      return createHash('sha256').update(text).digest('hex').slice(0, 16);
    };
    const sets: Record<string, string>[] = [
      { alertname: 'X', service: 's' },
      { service: 's', alertname: 'X' },
      { c: 'd', a: 'b' },
      // Pairs whose concatenation in insertion order matches the set above's.
      { c: 'd\u0001a\u0000b' },
      { a: 'b=c' },
      { 'a=b': 'c' },
      { alertname: 'Y', service: 's', operation: 'x'.repeat(600) },
    ];
    // More label sets than the cache holds, twice: evicted entries are computed again.
    for (let round = 0; round < 2; round++)
      for (let i = 0; i < 3000; i++)
        sets.push({ alertname: 'PerfTargetExceeded', service: 's', operation: `op_${i}` });
    for (const labels of sets) expect(fingerprintOf(labels)).toBe(reference(labels));
  });
});
