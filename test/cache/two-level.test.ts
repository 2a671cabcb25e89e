/** The two-level read/store handler on its own: memory steps, Redis reads with backfill, stores, deletes. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheOptions } from '../../src/cache/index.ts';
import { isStale, MISS } from '../../src/cache/two-level.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture, callOptions } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

const call = callOptions;

async function redisParts(options: CacheOptions = {}) {
  const made = await f.chaosParts(options);
  return { ...made, levels: made.parts.levels };
}

describe('two-level handler, memory', () => {
  it('stores a frozen decoded copy and answers from memory, counting hits and misses', async () => {
    const { levels, counters } = f.parts();
    const original = { list: [1, 2] };
    const stored = await levels.store('k', original, call(), { global: 0, versions: [] }, undefined);
    expect(stored).toEqual(original);
    expect(stored).not.toBe(original);
    expect(Object.isFrozen(stored)).toBe(true);
    expect(levels.memoryGet('k')).toBe(stored);
    expect(levels.memoryGet('other')).toBe(MISS);
    expect([counters.l1Hits, counters.l1Misses]).toEqual([1, 1]);
  });

  it('finds a stale candidate within grace, and serves it at once while backing off or refreshing', async () => {
    const { levels, counters } = f.parts();
    await levels.store(
      'k',
      'old',
      call({ ttlMs: 1, graceMs: 60_000 }),
      { global: 0, versions: [] },
      undefined,
    );
    const none = new Set<string>();
    const stale = await waitFor(() => {
      const found = levels.memoryLookup('k', 60_000, none);
      return found !== undefined && isStale(found) ? found : undefined;
    });
    expect(stale).toMatchObject({ value: 'old', level: 'memory' });
    expect(levels.memoryLookup('k', 0, none)).toBeUndefined();
    const refreshing = levels.memoryLookup('k', 60_000, new Set(['k']));
    expect(refreshing !== undefined && !isStale(refreshing) && refreshing.value).toBe('old');
    levels.keepStale('k', stale, performance.now() + 60_000, Number.MAX_SAFE_INTEGER);
    const backingOff = levels.memoryLookup('k', 60_000, none);
    expect(backingOff !== undefined && !isStale(backingOff)).toBe(true);
    expect(counters.l1Stale).toBe(2);
  });

  it('returns a factory result without caching it when its key changed since the factory started', async () => {
    const { levels, log, counters } = f.parts();
    const issued = log.seq;
    levels.evict('k');
    expect(await levels.store('k', 'late', call(), { global: 0, versions: [] }, issued)).toBe('late');
    expect(levels.memoryGet('k')).toBe(MISS);
    expect(counters.notCached).toBe(1);
  });

  it('caches an absent factory result as absent, unless its TTL is 0', async () => {
    const { levels, log, counters } = f.parts();
    expect(await levels.store('none', null, call(), { global: 0, versions: [] }, log.seq)).toBeNull();
    expect(levels.memoryGet('none')).toBeNull();
    expect(counters).toMatchObject({ factoryAbsent: 1, l1Absent: 1 });
    await levels.store('zero', undefined, call({ absentTtlMs: 0 }), { global: 0, versions: [] }, log.seq);
    expect(levels.memoryGet('zero')).toBe(MISS);
  });

  it('without Redis, refuses a set over maxEntryBytes and returns a factory result uncached', async () => {
    const { levels, log, counters } = f.parts({ maxEntryBytes: 4 });
    const snapshot = { global: 0, versions: [] };
    await expect(levels.store('big', 'too long', call(), snapshot, undefined)).rejects.toBeInstanceOf(
      InvalidArgumentError,
    );
    expect(await levels.store('big', 'too long', call(), snapshot, log.seq)).toBe('too long');
    expect(counters.notCached).toBe(1);
  });
});

describe('two-level handler, with Redis', () => {
  it('reads Redis, keeps what it found in memory, and returns the versions a write needs', async () => {
    const writer = await redisParts();
    const reader = await redisParts();
    await writer.parts.tags.invalidate(['t']);
    const snapshot = await writer.parts.tags.current(['t']);
    await writer.levels.store('k', { v: 1 }, call({ tags: ['t'] }), snapshot, undefined);
    await waitFor(() => reader.parts.bus?.received === 2, { what: 'the writer messages' });
    const read = await reader.levels.readL2('k', ['t']);
    expect(read).toMatchObject({ found: true, value: { v: 1 }, snapshot });
    expect(reader.levels.memoryGet('k')).toEqual({ v: 1 });
    expect(reader.parts.counters).toMatchObject({ l2Hits: 1, l1Hits: 1 });
    expect(await reader.levels.readL2('missing', [])).toMatchObject({ found: false });
  });

  it('does not keep in memory a reply that left before the key was invalidated', async () => {
    const writer = await redisParts();
    const { levels, l2 } = await redisParts();
    await writer.levels.store('k', 'old', call(), { global: 0, versions: [] }, undefined);
    const held = l2.holdNext('read');
    const reading = levels.readL2('k', []);
    await held.reached;
    levels.evict('k');
    held.release();
    expect(await reading).toMatchObject({ found: true, value: 'old' });
    expect(levels.memoryGet('k')).toBe(MISS);
  });

  it('deletes at both levels, and keeps the delete for replay while Redis is away', async () => {
    const { parts, levels, l2 } = await redisParts();
    await levels.store('k', 1, call(), { global: 0, versions: [] }, undefined);
    expect(await f.redis.exists(f.valueKey('k'))).toBe(1);
    await levels.delete('k');
    expect(await f.redis.exists(f.valueKey('k'))).toBe(0);
    expect(levels.memoryGet('k')).toBe(MISS);
    await levels.store('j', 1, call(), { global: 0, versions: [] }, undefined);
    l2.disconnect();
    await levels.delete('j');
    expect(parts.log.pending).toBe(1);
    l2.reconnect();
    await waitFor(() => parts.log.pending === 0, { what: 'the replayed delete' });
    expect(await f.redis.exists(f.valueKey('j'))).toBe(0);
  });
});
