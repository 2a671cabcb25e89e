/**
 * The races the invalidation log and the tag versions exist for, made deterministic with the chaos
 * driver and bus (real Redis underneath; a call is held exactly where the race happens).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheFixture } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

describe('an L2 read held while its key changes', () => {
  /** `a` reading `k` = `old` (written by `b`) from Redis, its reply held. */
  async function heldRead() {
    const { cache: a, l2 } = await f.openChaos();
    const b = await f.open();
    await b.set('k', 'old');
    await waitFor(() => a.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    const held = l2.holdNext('read');
    const reading = a.get('k');
    await held.reached;
    return { a, b, held, reading };
  }

  it('serves what it read but does not backfill memory over a newer set', async () => {
    const { a, held, reading } = await heldRead();
    await a.set('k', 'new');
    held.release();
    expect(await reading).toBe('old');
    expect(await a.get('k')).toBe('new');
    expect(a.getStats().memory_cache.hits).toBe(1);
  });

  it('does not backfill memory with a value deleted by another instance meanwhile', async () => {
    const { a, b, held, reading } = await heldRead();
    await b.delete('k');
    await waitFor(() => a.getStats().redis_cache.bus_messages === 2, { what: 'the delete message' });
    held.release();
    expect(await reading).toBe('old');
    expect(await a.get('k')).toBeUndefined();
    expect(a.getStats().memory_cache.items).toBe(0);
  });
});

describe('invalidations made while Redis writes fail', () => {
  it('are replayed when Redis is back, and a write made after the replay began is not erased by it', async () => {
    // One failure opens the circuit; the settle gate waits for the whole replay (no early timeout).
    const { cache: a, l2 } = await f.openChaos({
      circuitBreakerThreshold: 1,
      circuitBreakerDurationMs: 10,
      redisCommandTimeoutMs: 60_000,
    });
    const b = await f.open();
    await a.set('k', 'to be deleted');
    const probe = l2.holdNext('ping', 'request'); // keeps the circuit open until the test says
    l2.failNext('deleteKeys');
    await a.delete('k');
    await a.deleteByTags(['t']);
    expect(a.getStats().redis_cache).toMatchObject({ pending_invalidations: 2, errors: 1, breaker_opens: 1 });
    expect(a.getStats().redis_cache.breaker).not.toBe('closed');
    expect(await f.redis.exists(f.valueKey('k'))).toBe(1);

    const replay = l2.holdNext('invalidate', 'request'); // the replay's first step: the tag
    await probe.reached;
    probe.release();
    await replay.reached;
    const writing = a.set('x', 'written after the replay began', { tags: ['t'] });
    replay.release();
    await writing;

    // The write went out after the replayed invalidation and delete, carrying the tag's new version.
    const sent = l2.sent.slice(l2.sent.lastIndexOf('ping') + 1);
    expect(sent).toEqual(['invalidate', 'deleteKeys', 'write']);
    expect(a.getStats().redis_cache.pending_invalidations).toBe(0);
    expect(await f.redis.exists(f.valueKey('k'))).toBe(0);
    expect(await b.get('x')).toBe('written after the replay began');
    expect(await a.get('x')).toBe('written after the replay began');
  });
});

describe('a tag invalidated while a factory runs', () => {
  it('makes the result invalid on arrival, though the read that started it came back after the news', async () => {
    const { cache: a, l2 } = await f.openChaos();
    const b = await f.open();
    // The getOrSet's L2 read carries the tag's version from before the invalidation.
    const held = l2.holdNext('read');
    let runs = 0;
    const computing = a.getOrSet(
      'report',
      () => {
        runs++;
        return 'computed from old data';
      },
      { tags: ['orders'] },
    );
    await held.reached;
    await b.deleteByTags(['orders']);
    await waitFor(() => a.getStats().redis_cache.bus_messages === 1, { what: 'the tag message' });
    held.release();
    expect(await computing).toBe('computed from old data');
    expect(runs).toBe(1);
    // Neither a's memory nor Redis serves it: the entry carries the older version of the tag.
    expect(await a.get('report')).toBeUndefined();
    expect(await b.get('report')).toBeUndefined();
    expect(await a.getOrSet('report', () => 'fresh', { tags: ['orders'] })).toBe('fresh');
  });
});

describe('a bus message missed while the bus was disconnected', () => {
  it('clears memory when the bus is back, so the newer value is read from Redis', async () => {
    const { cache: a, bus } = await f.openChaos();
    const b = await f.open();
    await a.set('k', 'v1');
    expect(await a.get('k')).toBe('v1');
    const resets = a.getStats().redis_cache.bus_resets;
    bus.disconnect();
    await b.set('k', 'v2');
    await waitFor(() => bus.missed === 1, { what: 'the message to be missed' });
    expect(a.getStats().redis_cache.bus).toBe('disconnected');
    // Until the bus is back, memory is what there is (for at most tagCheckIntervalMs).
    expect(await a.get('k')).toBe('v1');
    bus.reconnect();
    expect(a.getStats().redis_cache.bus_resets).toBe(resets + 1);
    expect(a.getStats().memory_cache.items).toBe(0);
    expect(await a.get('k')).toBe('v2');
  });
});
