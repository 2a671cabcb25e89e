/**
 * The system history with an injected clock: per-minute aggregation of resource samples and of
 * received runtime figures, the 24-hour ring, rings made only for services with figures, the
 * service cap, the minute being filled, and the cache and pool figures read from a real SDK
 * collection (the Prometheus reader, as the telemetry wires it).
 */
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ATTR_CACHE_LEVEL,
  ATTR_CACHE_NAME,
  ATTR_CACHE_RESULT,
  METRIC_CACHE_LOOKUPS,
} from '../../src/cache/semconv.ts';
import {
  ATTR_DB_CLIENT_CONNECTION_POOL_NAME,
  ATTR_DB_CLIENT_CONNECTION_STATE,
  METRIC_PERF_DB_POOL_CONNECTIONS,
  METRIC_PERF_DB_POOL_WAITING,
} from '../../src/db/semconv.ts';
import { MINUTE_MS } from '../../src/telemetry/minutes.ts';
import type { ResourceSample } from '../../src/telemetry/resources.ts';
import {
  COLLECTION_REUSE_MS,
  SystemHistory,
  type SystemHistoryOptions,
} from '../../src/telemetry/system-history.ts';
import { HISTORY_MINUTES, SystemRing } from '../../src/telemetry/system-ring.ts';

const MIB = 1024 * 1024;
const START = Date.UTC(2026, 10, 27, 12, 0, 0);

/** A history on a clock the test moves. */
function clocked(options: Partial<SystemHistoryOptions> = {}) {
  let now = START + 5_000;
  const debug: string[] = [];
  const history = new SystemHistory({
    ownService: 'sidecar',
    maxServices: 10,
    now: () => now,
    logger: { debug: (_fields: unknown, message?: string) => debug.push(message ?? '') } as never,
    ...options,
  });
  return {
    history,
    debug,
    minute: () => Math.floor(now / MINUTE_MS),
    at: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function sample(at: number, over: Partial<ResourceSample> = {}): ResourceSample {
  return {
    at,
    rssMb: 100,
    heapUsedMb: 50,
    cpuPercent: 10,
    eventLoopDelayP99Ms: 1,
    eventLoopUtilization: 0.1,
    disks: [],
    ...over,
  };
}

describe('SystemHistory figures', () => {
  it('folds the samples of a minute: memory and delay maxima, CPU and utilisation means', async () => {
    const c = clocked();
    c.history.recordOwn(
      sample(c.at(), { rssMb: 120.5, heapUsedMb: 40, cpuPercent: 10, eventLoopDelayP99Ms: 2 }),
    );
    c.advance(1000);
    c.history.recordOwn(
      sample(c.at(), { rssMb: 130.25, heapUsedMb: 60, cpuPercent: 30, eventLoopDelayP99Ms: 9 }),
    );
    c.advance(1000);
    c.history.recordOwn(
      sample(c.at(), { rssMb: 110, heapUsedMb: 55, cpuPercent: 50, eventLoopUtilization: 0.4 }),
    );
    const [m] = await c.history.minutes('sidecar', c.minute() - 5, c.minute());
    expect(m).toMatchObject({
      minute: c.minute(),
      rssMb: 130.25,
      heapMb: 60,
      eventLoopDelayP99Ms: 9,
      cache: null,
      pool: null,
    });
    expect(m?.cpuPercent).toBeCloseTo(30, 5);
    expect(m?.eventLoopUtilization).toBeCloseTo(0.2, 5);
  });

  it('keeps each minute apart, returns only minutes with figures, oldest first', async () => {
    const c = clocked();
    const first = c.minute();
    c.history.recordOwn(sample(c.at(), { rssMb: 1 }));
    c.advance(3 * MINUTE_MS);
    c.history.recordOwn(sample(c.at(), { rssMb: 3 }));
    const minutes = await c.history.minutes('sidecar', first - 10, c.minute());
    expect(minutes.map((m) => [m.minute - first, m.rssMb])).toEqual([
      [0, 1],
      [3, 3],
    ]);
    expect(await c.history.minutes('sidecar', first + 1, c.minute())).toHaveLength(1);
  });

  it('scales received runtime figures to the own units, null where a service exports none', async () => {
    const c = clocked();
    c.history.record('checkout', { at: c.at(), rssBytes: 200 * MIB, cpuCores: 0.5 });
    c.history.record('checkout', { at: c.at(), heapUsedBytes: 80 * MIB, cpuCores: 1.5 });
    c.history.record('jvm', { at: c.at(), heapUsedBytes: 300 * MIB });
    const [checkout] = await c.history.minutes('checkout', c.minute(), c.minute());
    expect(checkout).toMatchObject({
      rssMb: 200,
      heapMb: 80,
      cpuPercent: 100,
      eventLoopDelayP99Ms: null,
      eventLoopUtilization: null,
      cache: null,
      pool: null,
    });
    // Another process under the own name does not mix into the own figures.
    c.history.record('sidecar', { at: c.at(), rssBytes: 999 * MIB });
    expect(c.history.has('sidecar')).toBe(false);
    const [jvm] = await c.history.minutes('jvm', c.minute(), c.minute());
    expect(jvm).toMatchObject({ rssMb: null, heapMb: 300, cpuPercent: null });
    c.history.record('checkout', { at: c.at(), eventLoopDelayP99Seconds: 0.25, eventLoopUtilization: 0.5 });
    const [again] = await c.history.minutes('checkout', c.minute(), c.minute());
    expect(again).toMatchObject({ eventLoopDelayP99Ms: 250, eventLoopUtilization: 0.5 });
  });

  it('files a figure in the minute it was taken; one ahead of the clock in the current minute, one older than 24 hours nowhere', async () => {
    const c = clocked();
    c.advance(10 * MINUTE_MS);
    c.history.record('checkout', { at: c.at() - 4 * MINUTE_MS, rssBytes: 1 * MIB });
    c.history.record('checkout', { at: c.at() + 30 * MINUTE_MS, rssBytes: 2 * MIB });
    c.history.record('checkout', { at: c.at() - HISTORY_MINUTES * MINUTE_MS, rssBytes: 3 * MIB });
    const minutes = await c.history.minutes('checkout', c.minute() - HISTORY_MINUTES, c.minute() + 60);
    expect(minutes.map((m) => [c.minute() - m.minute, m.rssMb])).toEqual([
      [4, 1],
      [0, 2],
    ]);
  });

  it('shows the minute being filled at once, and as it fills', async () => {
    const c = clocked();
    c.history.recordOwn(sample(c.at(), { rssMb: 10 }));
    expect((await c.history.minutes('sidecar', c.minute(), c.minute()))[0]?.rssMb).toBe(10);
    c.advance(1000);
    c.history.recordOwn(sample(c.at(), { rssMb: 20 }));
    expect((await c.history.minutes('sidecar', c.minute(), c.minute()))[0]?.rssMb).toBe(20);
  });
});

describe('SystemRing', () => {
  it('wraps after 24 hours: a new minute takes the slot over, an older one is dropped', () => {
    const ring = new SystemRing();
    const minute = Math.floor(START / MINUTE_MS);
    expect(ring.addSample(minute, { rssMb: 1, cpuPercent: 10 })).toBe(true);
    expect(ring.addSample(minute + 1, { rssMb: 2 })).toBe(true);
    expect(ring.read(minute, minute + 1)).toHaveLength(2);
    // The same slot, one day later: the old figures are gone, not merged.
    expect(ring.addSample(minute + HISTORY_MINUTES, { rssMb: 5, cpuPercent: 40 })).toBe(true);
    expect(ring.read(minute, minute + HISTORY_MINUTES)).toEqual([
      expect.objectContaining({ minute: minute + 1, rssMb: 2 }),
      expect.objectContaining({ minute: minute + HISTORY_MINUTES, rssMb: 5, cpuPercent: 40 }),
    ]);
    expect(ring.addSample(minute, { rssMb: 9 })).toBe(false);
    expect(ring.read(minute, minute)).toEqual([]);
    // A window longer than the ring reads each slot once.
    expect(ring.read(minute - 5 * HISTORY_MINUTES, minute + HISTORY_MINUTES)).toHaveLength(2);
  });

  it('makes the cache and pool arrays only when such figures arrive', () => {
    const ring = new SystemRing();
    const minute = Math.floor(START / MINUTE_MS);
    ring.addSample(minute, { rssMb: 1 });
    expect(ring.hasMetrics).toBe(false);
    expect(ring.read(minute, minute)[0]).toMatchObject({ cache: null, pool: null });
    ring.setPool(minute, { used: 2, idle: 3, waiting: 0 });
    expect(ring.hasMetrics).toBe(true);
    expect(ring.read(minute, minute)[0]).toMatchObject({
      cache: null,
      pool: { used: 2, idle: 3, waiting: 0 },
    });
    ring.addCache(minute, { memoryHits: 1, memoryLookups: 2, redisHits: 0, redisLookups: 1 });
    ring.addCache(minute, { memoryHits: 3, memoryLookups: 3, redisHits: 1, redisLookups: 1 });
    expect(ring.read(minute, minute)[0]?.cache).toEqual({
      memoryHits: 4,
      memoryLookups: 5,
      redisHits: 1,
      redisLookups: 2,
    });
    // A later day in the same slot starts without the earlier day's cache and pool figures.
    ring.addSample(minute + HISTORY_MINUTES, { rssMb: 1 });
    expect(ring.read(minute + HISTORY_MINUTES, minute + HISTORY_MINUTES)[0]).toMatchObject({
      cache: null,
      pool: null,
    });
  });
});

describe('SystemHistory services', () => {
  it('makes a ring only for a service with figures, when the first arrive', async () => {
    const c = clocked();
    expect(c.history.services()).toEqual([]);
    expect(await c.history.minutes('checkout', c.minute() - 60, c.minute())).toEqual([]);
    expect(c.history.has('checkout')).toBe(false);
    c.history.record('checkout', { at: c.at() });
    expect(c.history.has('checkout')).toBe(false);
    c.history.record('checkout', { at: c.at(), cpuCores: 0.1 });
    expect(c.history.has('checkout')).toBe(true);
    expect(c.history.services()).toEqual(['checkout']);
  });

  it('keeps at most maxServices histories, the own one included and always given room', async () => {
    const c = clocked({ maxServices: 3 });
    for (const service of ['a', 'b', 'c', 'd']) c.history.record(service, { at: c.at(), cpuCores: 0.1 });
    expect(c.history.services()).toEqual(['a', 'b']);
    c.history.recordOwn(sample(c.at()));
    expect(c.history.services()).toEqual(['a', 'b', 'sidecar']);
    c.history.record('e', { at: c.at(), cpuCores: 0.1 });
    expect(c.history.services()).toEqual(['a', 'b', 'sidecar']);
  });
});

/** A real meter provider whose Prometheus reader the history collects, with cache and pool instruments. */
function metrics() {
  const reader = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [reader] });
  const meter = provider.getMeter('test');
  const counts = new Map<string, number>();
  const key = (cache: string, level: string, result: string) => `${cache}|${level}|${result}`;
  let pools: { name: string; used: number; idle: number; waiting: number }[] = [];
  meter.createObservableCounter(METRIC_CACHE_LOOKUPS).addCallback((result) => {
    for (const [k, n] of counts) {
      const [cache, level, outcome] = k.split('|');
      result.observe(n, {
        [ATTR_CACHE_NAME]: cache ?? '',
        [ATTR_CACHE_LEVEL]: level ?? '',
        [ATTR_CACHE_RESULT]: outcome ?? '',
      });
    }
  });
  meter.createObservableGauge(METRIC_PERF_DB_POOL_CONNECTIONS).addCallback((result) => {
    for (const p of pools) {
      result.observe(p.used, {
        [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: p.name,
        [ATTR_DB_CLIENT_CONNECTION_STATE]: 'used',
      });
      result.observe(p.idle, {
        [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: p.name,
        [ATTR_DB_CLIENT_CONNECTION_STATE]: 'idle',
      });
    }
  });
  meter.createObservableGauge(METRIC_PERF_DB_POOL_WAITING).addCallback((result) => {
    for (const p of pools) result.observe(p.waiting, { [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: p.name });
  });
  return {
    collect: () => reader.collect(),
    count(cache: string, level: string, outcome: string, n: number) {
      counts.set(key(cache, level, outcome), (counts.get(key(cache, level, outcome)) ?? 0) + n);
    },
    reset(cache: string) {
      for (const k of [...counts.keys()]) if (k.startsWith(`${cache}|`)) counts.set(k, 0);
    },
    setPools(next: typeof pools) {
      pools = next;
    },
    close: () => provider.shutdown(),
  };
}

describe('SystemHistory cache and pool figures', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    vi.useRealTimers();
    for (const m of open.splice(0)) await m.close();
  });

  it('counts the hits and misses of each minute per level, from cumulative counters, over every cache', async () => {
    const m = metrics();
    open.push(m);
    const c = clocked({ collect: m.collect });
    m.count('a', 'memory', 'hit', 3);
    m.count('a', 'memory', 'miss', 1);
    m.count('a', 'redis', 'hit', 1);
    m.count('b', 'memory', 'miss', 4);
    // A stale value served follows a miss already counted (as in the cache's own hit_rate).
    m.count('b', 'memory', 'stale', 9);
    await c.history.collect();
    const first = c.minute();
    c.advance(MINUTE_MS);
    m.count('a', 'memory', 'hit', 2);
    m.count('a', 'redis', 'miss', 2);
    await c.history.collect();
    const minutes = await c.history.minutes('sidecar', first, c.minute());
    expect(minutes.map((x) => x.cache)).toEqual([
      { memoryHits: 3, memoryLookups: 8, redisHits: 1, redisLookups: 1 },
      { memoryHits: 2, memoryLookups: 2, redisHits: 0, redisLookups: 2 },
    ]);
    expect(minutes.every((x) => x.rssMb === null && x.pool === null)).toBe(true);
  });

  it('counts a cache whose counters went back to 0 (made again under its name) from 0', async () => {
    const m = metrics();
    open.push(m);
    const c = clocked({ collect: m.collect });
    m.count('a', 'memory', 'hit', 10);
    await c.history.collect();
    m.reset('a');
    m.count('a', 'memory', 'hit', 2);
    c.advance(MINUTE_MS);
    await c.history.collect();
    const [now] = await c.history.minutes('sidecar', c.minute(), c.minute());
    expect(now?.cache).toMatchObject({ memoryHits: 2, memoryLookups: 2 });
  });

  it('keeps the latest pool use of a minute, summed over the pools', async () => {
    const m = metrics();
    open.push(m);
    const c = clocked({ collect: m.collect });
    m.setPools([{ name: 'p1', used: 5, idle: 0, waiting: 3 }]);
    await c.history.collect();
    m.setPools([
      { name: 'p1', used: 1, idle: 4, waiting: 0 },
      { name: 'p2', used: 2, idle: 1, waiting: 1 },
    ]);
    await c.history.collect();
    const [minute] = await c.history.minutes('sidecar', c.minute(), c.minute());
    expect(minute?.pool).toEqual({ used: 3, idle: 5, waiting: 1 });
    expect(minute?.cache).toBeNull();
  });

  it('records nothing and says why at debug level when metrics are off, absent or cannot be collected', async () => {
    const off = clocked();
    await off.history.collect();
    await off.history.collect();
    expect(off.history.services()).toEqual([]);
    expect(off.debug).toEqual([expect.stringMatching(/no cache hit rates or pool use: metrics are off/)]);

    const m = metrics();
    open.push(m);
    const none = clocked({ collect: m.collect });
    await none.history.collect();
    expect(none.history.services()).toEqual([]);
    expect(none.debug).toEqual([expect.stringMatching(/no cache and no database pool report metrics/)]);

    const failing = clocked({ collect: () => Promise.reject(new Error('reader is shut down')) });
    failing.history.recordOwn(sample(failing.at()));
    await expect(failing.history.collect()).resolves.toBeUndefined();
    const [minute] = await failing.history.minutes('sidecar', failing.minute(), failing.minute());
    expect(minute).toMatchObject({ rssMb: 100, cache: null, pool: null });
    expect(failing.debug).toEqual([
      expect.stringMatching(/the metric collection failed: reader is shut down/),
    ]);
  });

  it('reuses a collection younger than COLLECTION_REUSE_MS for reads, and shares the one running', async () => {
    const m = metrics();
    open.push(m);
    let collections = 0;
    let release: (() => void) | undefined;
    let gate: Promise<void> | undefined;
    const c = clocked({
      collect: async () => {
        collections++;
        await gate;
        return m.collect();
      },
    });
    m.count('a', 'memory', 'hit', 1);
    const read = () => c.history.minutes('sidecar', c.minute(), c.minute());
    await read();
    expect(collections).toBe(1);
    // A read soon after: the collection is reused, so a lookup since then is not counted yet.
    m.count('a', 'memory', 'hit', 1);
    c.advance(COLLECTION_REUSE_MS - 1);
    expect((await read())[0]?.cache?.memoryHits).toBe(1);
    expect(collections).toBe(1);
    // Once it is that old, a read collects again.
    c.advance(1);
    expect((await read())[0]?.cache?.memoryHits).toBe(2);
    expect(collections).toBe(2);

    // Reads while a collection runs wait for it and share it.
    c.advance(COLLECTION_REUSE_MS);
    gate = new Promise((resolve) => {
      release = resolve;
    });
    m.count('a', 'memory', 'hit', 1);
    const reads = [read(), read(), read()];
    expect(collections).toBe(3);
    release?.();
    const answers = await Promise.all(reads);
    expect(answers.map((a) => a[0]?.cache?.memoryHits)).toEqual([3, 3, 3]);
    expect(collections).toBe(3);

    // An explicit collect() always collects (the minute timer's, and a caller's who needs it now).
    await c.history.collect();
    expect(collections).toBe(4);
    // Other services' reads never collect.
    c.advance(COLLECTION_REUSE_MS);
    await c.history.minutes('other', c.minute(), c.minute());
    expect(collections).toBe(4);
  });

  it('collects each minute at its end into that minute, until stopped', async () => {
    vi.useFakeTimers({ now: START + 20_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const m = metrics();
    open.push(m);
    const history = new SystemHistory({ ownService: 'sidecar', maxServices: 10, collect: m.collect });
    const minute = Math.floor(Date.now() / MINUTE_MS);
    history.start();
    m.count('a', 'memory', 'hit', 4);
    await vi.advanceTimersByTimeAsync(40_000);
    m.count('a', 'memory', 'hit', 1);
    await vi.advanceTimersByTimeAsync(MINUTE_MS);
    history.stop();
    m.count('a', 'memory', 'hit', 7);
    await vi.advanceTimersByTimeAsync(3 * MINUTE_MS);
    expect(vi.getTimerCount()).toBe(0);
    const minutes = await history.minutes('sidecar', minute, minute + 1);
    expect(minutes.map((x) => [x.minute - minute, x.cache?.memoryHits])).toEqual([
      [0, 4],
      [1, 1],
    ]);
  });
});
