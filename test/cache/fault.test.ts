import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { CacheFixture } from '../helpers/cache.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture | undefined;
let own: OwnRedis | undefined;
afterEach(async () => {
  await f?.cleanup();
  f = undefined;
  await own?.dispose();
  own = undefined;
});

describe('Redis stopped mid-test (own redis-server, stopped and restarted)', () => {
  it('keeps working on memory with the breaker open, then uses Redis again after the restart', async () => {
    own = await OwnRedis.start();
    const server = own;
    f = new CacheFixture();
    const cache = f.openNow({ redis: server.url });
    expect(await cache.ready()).toBe(true);
    await cache.set('kept', 'in memory', { tags: ['t'] });
    await cache.set('doomed', 'tagged', { tags: ['doomed'] });
    expect(cache.getStats().redis_cache.bus_resets).toBe(1);

    await server.stop();
    await waitFor(() => !cache.getStats().redis_cache.connected, { what: 'the cache to notice' });

    // Memory answers; Redis is not waited on: the first call finds the connection down and opens
    // the breaker, the rest skip Redis.
    expect(await cache.get('kept')).toBe('in memory');
    expect(await cache.getOrSet('computed', () => 'by the factory')).toBe('by the factory');
    expect(await cache.get('computed')).toBe('by the factory');
    await cache.set('written', 'while away');
    expect(await cache.get('written')).toBe('while away');
    await cache.deleteByTags(['doomed']);
    expect(await cache.get('doomed')).toBeUndefined();
    expect(await cache.get('never-set')).toBeUndefined();
    const away = cache.getStats().redis_cache;
    expect(away.breaker).toBe('open');
    expect(away.breaker_opens).toBe(1);
    expect(away.errors).toBe(0);
    expect(away.skipped).toBeGreaterThanOrEqual(4);
    expect(away.pending_invalidations).toBe(3); // computed, written, tag doomed
    expect(cache.getStats().memory_cache.hits).toBeGreaterThanOrEqual(3);

    await server.start();
    await waitFor(
      () => {
        const s = cache.getStats().redis_cache;
        return (
          s.connected && s.breaker === 'closed' && s.pending_invalidations === 0 && s.bus === 'connected'
        );
      },
      { what: 'the cache to reconnect and replay its invalidations' },
    );
    // The bus reconnected: memory was cleared, since messages may have been missed meanwhile.
    await waitFor(() => cache.getStats().redis_cache.bus_resets === 2, { what: 'the bus to resubscribe' });

    const raw = new Redis(server.url);
    try {
      await cache.set('after', 'restart');
      expect(await raw.get(f.valueKey('after'))).toContain('"restart"');
      // The tag invalidated while Redis was away has a version in Redis again.
      expect(Number(await raw.get(`${f.prefix}t:doomed`))).toBeGreaterThan(0);
      const other = f.openNow({ redis: server.url });
      expect(await other.ready()).toBe(true);
      expect(await other.get('after')).toBe('restart');
      expect(other.getStats().redis_cache.hits).toBe(1);
    } finally {
      raw.disconnect();
    }
  });
});
