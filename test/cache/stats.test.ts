/** The statistics on their own: the `getStats()` shape and the metric snapshot, from counters and sources. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheCounters, counterSnapshotOf, type StatsSources, statsOf } from '../../src/cache/stats.ts';
import { CacheFixture, callOptions } from '../helpers/cache.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

function sources(over: Partial<StatsSources> = {}): StatsSources {
  return {
    counters: new CacheCounters(),
    options: { name: 'stats', maxItems: 10, maxBytes: 1000 },
    l1: { items: 2, bytes: 30, evictions: 1 },
    link: undefined,
    bus: undefined,
    log: { pending: 0 },
    runner: { inFlight: 0 },
    ...over,
  };
}

describe('statistics', () => {
  it('report hit rates per level, 0 before any lookup', () => {
    const s = sources();
    expect(statsOf(s).memory_cache.hit_rate).toBe(0);
    Object.assign(s.counters, { l1Hits: 3, l1Misses: 1, l2Hits: 1, l2Misses: 3, l1Stale: 2, l2Absent: 1 });
    const stats = statsOf(s);
    expect(stats.memory_cache).toMatchObject({ hits: 3, misses: 1, hit_rate: 0.75, stale_serves: 2 });
    expect(stats.memory_cache).toMatchObject({
      items: 2,
      bytes: 30,
      evictions: 1,
      max_items: 10,
      max_bytes: 1000,
    });
    expect(stats.redis_cache).toMatchObject({ hits: 1, misses: 3, hit_rate: 0.25, absent_hits: 1 });
  });

  it('report Redis, the breaker and the bus as disabled in memory-only mode', () => {
    expect(statsOf(sources()).redis_cache).toMatchObject({
      enabled: false,
      connected: false,
      breaker: 'disabled',
      breaker_opens: 0,
      bus: 'disabled',
      bus_messages: 0,
    });
    expect(counterSnapshotOf(sources()).breakerOpen).toBe(false);
  });

  it('pass the link, bus, pending invalidations and running factories through', () => {
    const s = sources({
      link: { connected: true, breakerState: 'half_open', breakerOpens: 2 },
      bus: { connected: false, received: 7 },
      log: { pending: 3 },
      runner: { inFlight: 4 },
    });
    s.counters.busResets = 1;
    expect(statsOf(s).redis_cache).toMatchObject({
      enabled: true,
      connected: true,
      breaker: 'half_open',
      breaker_opens: 2,
      bus: 'disconnected',
      bus_messages: 7,
      bus_resets: 1,
      pending_invalidations: 3,
    });
    expect(statsOf(s).factory.in_flight).toBe(4);
    expect(counterSnapshotOf(s)).toMatchObject({ breakerOpen: true, items: 2, bytes: 30, evictions: 1 });
  });

  it('read the collaborators of a real cache', async () => {
    const parts = f.parts({ name: 'real' });
    await parts.levels.store('k', 'v', callOptions(), { global: 0, versions: [] }, undefined);
    parts.levels.memoryGet('k');
    parts.levels.memoryGet('missing');
    const stats = statsOf(parts);
    expect(stats.name).toBe('real');
    expect(stats.memory_cache).toMatchObject({ hits: 1, misses: 1, items: 1, bytes: 3 });
    expect(counterSnapshotOf(parts).memory).toEqual({ hits: 1, misses: 1, stale: 0 });
  });
});
