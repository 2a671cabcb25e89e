/**
 * Coherence between processes: each cache in a child process of its own (test/cache/fixtures/peer.ts)
 * on the shared test Redis, so nothing is shared but Redis.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheFixture, CachePeer } from '../helpers/cache.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
const peers: CachePeer[] = [];
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await Promise.all(peers.splice(0).map((p) => p.stop()));
  await f.cleanup();
});

function peer(name: string, firstSet?: string): CachePeer {
  const p = new CachePeer(TEST_REDIS_URL, f.prefix, { name, firstSet });
  peers.push(p);
  return p;
}

interface PeerStats {
  readonly memory_cache: { hits: number; absent_hits: number };
  readonly redis_cache: {
    hits: number;
    absent_hits: number;
    skipped: number;
    pending_invalidations: number;
    bus_messages: number;
  };
  readonly factory: { runs: number; absent: number };
}

describe('two processes', () => {
  it('keeps a set issued in the same tick as createCache, for the writer and for the other process', async () => {
    const writer = peer('writer', 'early=first value');
    const reader = peer('reader');
    expect(await writer.answer('first-set')).toMatchObject({ ok: true });
    expect(await writer.call('ready')).toBe(true);
    expect(await reader.call('ready')).toBe(true);
    // Whatever the writer replays after connecting has been sent once nothing is pending.
    await waitFor(
      async () => ((await writer.call('stats')) as PeerStats).redis_cache.pending_invalidations === 0,
      { what: 'the writer to have nothing pending' },
    );
    expect(await f.redis.get(f.valueKey('early'))).toContain('"first value"');
    expect(await reader.call('get', { key: 'early' })).toBe('first value');
    expect(await writer.call('get', { key: 'early' })).toBe('first value');
    const stats = (await writer.call('stats')) as PeerStats;
    expect(stats.redis_cache.skipped).toBe(0);
    // Start-up is not an outage: nothing says Redis was away.
    const messages = writer.logs.map((line) => String(line.msg));
    expect(messages.filter((m) => /away|replayed/.test(m))).toEqual([]);
  });

  it('a key delete and a tag invalidation in one process reach the memory of the other', async () => {
    const a = peer('a');
    const b = peer('b');
    expect(await a.call('ready')).toBe(true);
    expect(await b.call('ready')).toBe(true);
    await a.call('set', { key: 'p1', value: 'one', tags: ['product'] });
    await a.call('set', { key: 'p2', value: 'two', tags: ['shelf'] });
    await a.call('set', { key: 'k', value: 'kv' });
    await waitFor(async () => ((await b.call('stats')) as PeerStats).redis_cache.bus_messages >= 3, {
      what: 'the set messages in b',
    });
    // b reads each from Redis once, then from its own memory.
    for (let round = 0; round < 2; round++) {
      expect(await b.call('get', { key: 'p1' })).toBe('one');
      expect(await b.call('get', { key: 'p2' })).toBe('two');
      expect(await b.call('get', { key: 'k' })).toBe('kv');
    }
    const before = (await b.call('stats')) as PeerStats;
    expect(before.redis_cache.hits).toBe(3);
    expect(before.memory_cache.hits).toBe(3);

    await a.call('deleteByTags', { tags: ['product'] });
    await waitFor(async () => (await b.call('get', { key: 'p1' })) === '<undefined>', {
      what: 'the tag invalidation in b',
    });
    expect(await b.call('get', { key: 'p2' })).toBe('two');
    await a.call('delete', { key: 'k' });
    await waitFor(async () => (await b.call('get', { key: 'k' })) === '<undefined>', {
      what: 'the key delete in b',
    });
    expect(await b.call('get', { key: 'p2' })).toBe('two');
    // The other way round too.
    await b.call('deleteByTags', { tags: ['shelf'] });
    await waitFor(async () => (await a.call('get', { key: 'p2' })) === '<undefined>', {
      what: 'the tag invalidation in a',
    });
  });

  it('an absent result cached by one process is served to the other without its factory', async () => {
    const a = peer('a');
    const b = peer('b');
    expect(await a.call('ready')).toBe(true);
    expect(await b.call('ready')).toBe(true);
    expect(await a.call('getOrSet', { key: 'user:999' })).toEqual({ value: '<undefined>', factoryRuns: 1 });
    expect(await a.call('getOrSet', { key: 'none', result: null })).toEqual({ value: null, factoryRuns: 2 });
    expect(await b.call('getOrSet', { key: 'user:999', result: 'from b' })).toEqual({
      value: '<undefined>',
      factoryRuns: 0,
    });
    expect(await b.call('get', { key: 'none' })).toBeNull();
    const stats = (await b.call('stats')) as PeerStats;
    expect(stats.redis_cache.absent_hits).toBe(2);
    expect(stats.factory.runs).toBe(0);
    expect(((await a.call('stats')) as PeerStats).factory.absent).toBe(2);
  });
});
