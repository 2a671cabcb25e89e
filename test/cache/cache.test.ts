import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheFactoryTimeoutError, type FactoryContext } from '../../src/cache/index.ts';
import { CacheFixture } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

/** A promise and the function that resolves it: lets a test hold a factory until it says so. */
function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('levels (real Redis)', () => {
  it('reads memory, then Redis (keeping the value in memory), then misses', async () => {
    const writer = await f.open();
    const reader = await f.open();
    await writer.set('user:1', { name: 'ada' }, { ttlSeconds: 60 });
    expect(await writer.get('user:1')).toEqual({ name: 'ada' });
    expect(writer.getStats().memory_cache).toMatchObject({ hits: 1, misses: 0 });

    // The reader's memory must not be invalidated by the set's bus message while it reads.
    await waitFor(() => reader.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    expect(await reader.get('user:1')).toEqual({ name: 'ada' });
    expect(reader.getStats().memory_cache).toMatchObject({ hits: 0, misses: 1, items: 1 });
    expect(reader.getStats().redis_cache).toMatchObject({ hits: 1, misses: 0 });
    expect(await reader.get('user:1')).toEqual({ name: 'ada' });
    expect(reader.getStats().memory_cache).toMatchObject({ hits: 1, misses: 1 });
    expect(reader.getStats().redis_cache).toMatchObject({ hits: 1, misses: 0 });

    expect(await reader.get('user:2')).toBeUndefined();
    expect(reader.getStats().redis_cache).toMatchObject({ hits: 1, misses: 1 });
  });

  it('keeps a Redis hit in memory for the remaining TTL only', async () => {
    const reader = await f.open();
    // An entry written elsewhere with 400 ms of freshness left on Redis's clock, kept by Redis far
    // longer: the reader must keep its memory copy for the remaining 400 ms, not longer.
    const [seconds, micros] = await f.redis.time();
    const freshUntil = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + 400;
    await f.redis.set(f.valueKey('short'), `1 ${freshUntil} 0 0 0\n"value"`, 'PX', 600_000);
    expect(await reader.get('short')).toBe('value');
    expect(await reader.get('short')).toBe('value');
    expect(reader.getStats().memory_cache).toMatchObject({ hits: 1, items: 1 });
    await waitFor(async () => (await reader.get('short')) === undefined, {
      what: 'the memory copy to expire',
    });
    expect(await f.redis.exists(f.valueKey('short'))).toBe(1);
  });

  it('expires entries at both levels after their TTL', async () => {
    const cache = await f.open();
    await cache.set('ttl', { n: 1 }, { ttlSeconds: 1 });
    const pttl = await f.redis.pttl(f.valueKey('ttl'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(1000);
    expect(await cache.get('ttl')).toEqual({ n: 1 });
    await waitFor(async () => (await cache.get('ttl')) === undefined, { what: 'the entry to expire' });
    expect(await f.redis.exists(f.valueKey('ttl'))).toBe(0);
  });

  it('evicts the least recently used entry by count', async () => {
    const cache = f.openNow({ maxItems: 3 });
    await cache.set('a', 1);
    await cache.set('b', 2);
    await cache.set('c', 3);
    expect(await cache.get('a')).toBe(1);
    await cache.set('d', 4);
    expect(await cache.get('b')).toBeUndefined();
    expect([await cache.get('a'), await cache.get('c'), await cache.get('d')]).toEqual([1, 3, 4]);
    expect(cache.getStats().memory_cache).toMatchObject({ items: 3, evictions: 1 });
  });

  it('evicts the least recently used entries by bytes', async () => {
    const cache = f.openNow({ maxBytes: 100, maxEntryBytes: 100 });
    const thirty = (c: string) => c.repeat(30); // 32 bytes as JSON
    await cache.set('a', thirty('a'));
    await cache.set('b', thirty('b'));
    await cache.set('c', thirty('c'));
    expect(cache.getStats().memory_cache).toMatchObject({ items: 3, bytes: 96, evictions: 0 });
    await cache.set('d', thirty('d'));
    expect(await cache.get('a')).toBeUndefined();
    expect(await cache.get('d')).toBe(thirty('d'));
    expect(cache.getStats().memory_cache).toMatchObject({ items: 3, bytes: 96, evictions: 1 });
  });

  it('keeps values larger than maxEntryBytes in Redis only', async () => {
    const cache = await f.open({ maxEntryBytes: 100 });
    const big = 'x'.repeat(1000);
    await cache.set('big', big);
    await cache.set('small', 'y');
    expect(cache.getStats().memory_cache).toMatchObject({ items: 1 });
    expect(await f.redis.exists(f.valueKey('big'))).toBe(1);
    expect(await cache.get('big')).toBe(big);
    expect(await cache.get('big')).toBe(big);
    expect(await cache.get('small')).toBe('y');
    expect(cache.getStats().memory_cache).toMatchObject({ hits: 1, misses: 2, items: 1 });
    expect(cache.getStats().redis_cache).toMatchObject({ hits: 2 });
  });

  it('hands out deep-frozen values, equal from memory and from Redis', async () => {
    const writer = await f.open();
    const reader = await f.open();
    const original = { list: [{ id: 1 }], name: 'n' };
    await writer.set('frozen', original);
    original.name = 'changed after set';
    const fromMemory = await writer.get<typeof original>('frozen');
    await waitFor(() => reader.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    const fromRedis = await reader.get<typeof original>('frozen');
    expect(fromMemory).toEqual({ list: [{ id: 1 }], name: 'n' });
    expect(fromRedis).toEqual(fromMemory);
    expect(Object.isFrozen(fromMemory) && Object.isFrozen(fromMemory?.list[0])).toBe(true);
    expect(Object.isFrozen(fromRedis) && Object.isFrozen(fromRedis?.list)).toBe(true);
    expect(() => {
      (fromMemory as { name: string }).name = 'x';
    }).toThrow(TypeError);
  });
});

describe('coherence across instances (each with its own memory and connections)', () => {
  it('a tag invalidation reaches the other instance within a bounded time', async () => {
    const a = await f.open();
    const b = await f.open();
    await a.set('p1', 'one', { tags: ['product'] });
    await a.set('p2', 'two', { tags: ['product', 'shelf'] });
    await a.set('other', 'three', { tags: ['shelf'] });
    await waitFor(() => b.getStats().redis_cache.bus_messages === 3, { what: 'the set messages' });
    for (const key of ['p1', 'p2', 'other']) await b.get(key);
    for (const key of ['p1', 'p2', 'other']) await b.get(key);
    expect(b.getStats().memory_cache).toMatchObject({ hits: 3, items: 3 });

    await a.deleteByTags(['product']);
    await waitFor(async () => (await b.get('p1')) === undefined, { timeoutMs: 2000, what: 'b to drop p1' });
    expect(await b.get('p2')).toBeUndefined();
    expect(await b.get('other')).toBe('three');
    expect(await a.get('p1')).toBeUndefined();
    expect(await a.get('p2')).toBeUndefined();
  });

  it('a set and a delete reach the other instance within a bounded time', async () => {
    const a = await f.open();
    const b = await f.open();
    await a.set('k', 1);
    await waitFor(() => b.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    expect(await b.get('k')).toBe(1);
    expect(await b.get('k')).toBe(1);
    expect(b.getStats().memory_cache.hits).toBe(1);

    await a.set('k', 2);
    await waitFor(async () => (await b.get('k')) === 2, { timeoutMs: 2000, what: 'b to see the new value' });
    await a.delete('k');
    await waitFor(async () => (await b.get('k')) === undefined, {
      timeoutMs: 2000,
      what: 'b to drop the key',
    });
    expect(await f.redis.exists(f.valueKey('k'))).toBe(0);
  });

  it('clear() empties every instance in O(1)', async () => {
    const a = await f.open();
    const b = await f.open();
    await a.set('x', 'x');
    await b.set('y', 'y');
    await waitFor(async () => (await b.get('x')) === 'x' && (await a.get('y')) === 'y', {
      what: 'both values',
    });
    await a.clear();
    await waitFor(async () => (await b.get('x')) === undefined && (await b.get('y')) === undefined, {
      timeoutMs: 2000,
      what: 'b to forget everything',
    });
    expect(await a.get('y')).toBeUndefined();
    // The entries are still in Redis (until their TTL) but never served again.
    expect(await f.redis.exists(f.valueKey('x'))).toBe(1);
  });
});

describe('getOrSet', () => {
  it('runs the factory once for 1,000 concurrent calls on a cold key', async () => {
    const cache = await f.open();
    const release = gate<void>();
    let runs = 0;
    const calls = Array.from({ length: 1000 }, () =>
      cache.getOrSet('cold', async () => {
        runs++;
        await release.promise;
        return { computed: true };
      }),
    );
    await waitFor(() => runs === 1, { what: 'the factory to start' });
    release.open();
    const results = await Promise.all(calls);
    expect(runs).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(results[0]).toEqual({ computed: true });
    expect(cache.getStats().factory).toMatchObject({ runs: 1, coalesced: 999, in_flight: 0 });
    expect(await cache.getOrSet('cold', () => ({ computed: false }))).toEqual({ computed: true });
  });

  it('rethrows a factory error to every waiting caller and caches nothing', async () => {
    const cache = await f.open();
    const boom = new Error('database down');
    const calls = Array.from({ length: 3 }, () =>
      cache.getOrSet('fails', async () => {
        throw boom;
      }),
    );
    for (const call of calls) await expect(call).rejects.toBe(boom);
    expect(cache.getStats().factory).toMatchObject({ runs: 1, errors: 1 });
    expect(await cache.getOrSet('fails', () => 'recovered')).toBe('recovered');
  });

  it('serves the stale value within grace when the factory fails, then backs off', async () => {
    const cache = await f.open({ graceSeconds: 60 });
    expect(await cache.getOrSet('g', () => 'v1', { ttlSeconds: 1 })).toBe('v1');
    // get() never serves stale values: undefined means the entry has expired (and is in grace).
    await waitFor(async () => (await cache.get('g')) === undefined, { what: 'the entry to expire' });
    expect(
      await cache.getOrSet('g', () => {
        throw new Error('backend down');
      }),
    ).toBe('v1');
    let calls = 0;
    expect(
      await cache.getOrSet('g', () => {
        calls++;
        return 'v2';
      }),
    ).toBe('v1');
    expect(calls).toBe(0);
    expect(cache.getStats().memory_cache.stale_serves).toBe(2);
    expect(cache.getStats().factory.errors).toBe(1);
  });

  it('serves the stale value past the soft timeout and caches the late result in the background', async () => {
    const cache = await f.open({ graceSeconds: 60, factorySoftTimeoutMs: 20 });
    await cache.getOrSet('s', () => 'v1', { ttlSeconds: 1 });
    await waitFor(async () => (await cache.get('s')) === undefined, { what: 'the entry to expire' });
    const release = gate<void>();
    let seenStale: unknown;
    const value = await cache.getOrSet('s', async ({ staleValue }: FactoryContext<string>) => {
      seenStale = staleValue;
      await release.promise;
      return 'v2';
    });
    expect(value).toBe('v1');
    expect(seenStale).toBe('v1');
    expect(cache.getStats().factory.soft_timeouts).toBe(1);
    release.open();
    await waitFor(async () => (await cache.get('s')) === 'v2', { what: 'the background refresh' });
  });

  it('fails with CacheFactoryTimeoutError past the hard timeout when nothing stale exists', async () => {
    const cache = await f.open({ factoryHardTimeoutMs: 50 });
    let signal: AbortSignal | undefined;
    const never = gate<string>();
    const call = cache.getOrSet('hang', (ctx) => {
      signal = ctx.signal;
      return never.promise;
    });
    await expect(call).rejects.toBeInstanceOf(CacheFactoryTimeoutError);
    await expect(call).rejects.toMatchObject({ code: 'PERF_CACHE_FACTORY_TIMEOUT' });
    expect(signal?.aborted).toBe(true);
    never.open('late');
    expect(await cache.getOrSet('hang', () => 'next')).toBe('next');
    expect(cache.getStats().factory.hard_timeouts).toBe(1);
  });

  it('does not cache a result computed while its key was deleted', async () => {
    const cache = await f.open();
    const release = gate<void>();
    let started = false;
    const call = cache.getOrSet('raced', async () => {
      started = true;
      await release.promise;
      return 'computed before the delete';
    });
    await waitFor(() => started, { what: 'the factory to start' });
    await cache.delete('raced');
    release.open();
    expect(await call).toBe('computed before the delete');
    expect(await cache.get('raced')).toBeUndefined();
    expect(cache.getStats().factory.not_cached).toBe(1);
  });

  it('treats a result as invalid when its tag was invalidated while the factory ran', async () => {
    const a = await f.open();
    const b = await f.open();
    const release = gate<void>();
    let started = false;
    const call = a.getOrSet(
      'tagged',
      async () => {
        started = true;
        await release.promise;
        return 'old data';
      },
      { tags: ['orders'] },
    );
    await waitFor(() => started, { what: 'the factory to start' });
    await b.deleteByTags(['orders']);
    release.open();
    expect(await call).toBe('old data');
    await waitFor(async () => (await a.get('tagged')) === undefined, { what: 'a to see the tag change' });
    expect(await b.get('tagged')).toBeUndefined();
  });
});

describe('statistics', () => {
  it('match the operations performed', async () => {
    const cache = await f.open();
    await cache.set('a', 1);
    await cache.get('a'); // memory hit
    await cache.get('b'); // memory miss, Redis miss
    await cache.getOrSet('c', () => 3); // memory miss, Redis miss, factory
    await cache.getOrSet('c', () => 4); // memory hit
    await cache.delete('a');
    await cache.get('a'); // memory miss, Redis miss
    const stats = cache.getStats();
    expect(stats.memory_cache).toMatchObject({
      hits: 2,
      misses: 3,
      hit_rate: 0.4,
      items: 1,
      stale_serves: 0,
    });
    expect(stats.redis_cache).toMatchObject({
      enabled: true,
      connected: true,
      hits: 0,
      misses: 3,
      hit_rate: 0,
      errors: 0,
      breaker: 'closed',
      bus: 'connected',
    });
    expect(stats.factory).toMatchObject({ runs: 1, errors: 0, coalesced: 0 });
  });
});
