import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { getLogger, setLogger } from '../../src/shared/logger.ts';
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

describe('Redis hung (own redis-server stopped with SIGSTOP, then resumed)', () => {
  it('opens the breaker once for calls that time out together, skips Redis after it, and closes by itself on resume', async () => {
    own = await OwnRedis.start();
    const server = own;
    f = new CacheFixture();
    const cache = f.openNow({ redis: server.url });
    const other = f.openNow({ redis: server.url });
    expect(await cache.ready()).toBe(true);
    expect(await other.ready()).toBe(true);
    await cache.set('shared', 'before the hang');
    await waitFor(() => other.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    expect(await other.get('shared')).toBe('before the hang');
    expect(await cache.get('warm-up miss')).toBeUndefined();

    server.signal('SIGSTOP');
    try {
      // Twenty calls in flight when Redis stops answering: they time out together, one opening.
      const cold = await Promise.all(Array.from({ length: 20 }, (_, i) => cache.get(`cold:${i}`)));
      expect(cold).toEqual(Array(20).fill(undefined));
      const hung = cache.getStats().redis_cache;
      expect(hung).toMatchObject({ breaker_opens: 1, errors: 20, connected: true });
      expect(hung.breaker).not.toBe('closed');

      // Later calls do not touch Redis: no new errors, each one skipped, memory answers.
      expect(await cache.get('shared')).toBe('before the hang');
      expect(await cache.getOrSet('during', () => 'computed')).toBe('computed');
      await cache.delete('shared');
      await cache.deleteByTags(['t']);
      expect(await cache.get('cold:0')).toBeUndefined();
      const after = cache.getStats().redis_cache;
      expect(after.errors).toBe(20);
      expect(after.breaker_opens).toBe(1);
      expect(after.skipped).toBeGreaterThanOrEqual(5);
      expect(after.pending_invalidations).toBe(3); // during, shared, tag t
    } finally {
      server.signal('SIGCONT');
    }

    // Closed again and replayed with no cache call made: nothing waits for a caller to probe.
    await waitFor(
      () => {
        const s = cache.getStats().redis_cache;
        return s.breaker === 'closed' && s.pending_invalidations === 0;
      },
      { what: 'the breaker to close by itself after the resume' },
    );
    // Coherence is back: the delete made during the hang reaches the other instance's memory.
    await waitFor(async () => (await other.get('shared')) === undefined, { what: 'the replayed delete' });
    // A write after the replayed tag invalidation carries the tag's new version: it is not erased.
    await cache.set('after', 'tagged after the replay', { tags: ['t'] });
    expect(await other.get('after')).toBe('tagged after the replay');

    // One call alone, on a hung Redis, opens the breaker at its first timeout.
    server.signal('SIGSTOP');
    try {
      expect(await cache.get('cold:alone')).toBeUndefined();
      expect(cache.getStats().redis_cache).toMatchObject({ breaker_opens: 2, errors: 21 });
      expect(await cache.get('cold:next')).toBeUndefined();
      expect(cache.getStats().redis_cache.errors).toBe(21);
    } finally {
      server.signal('SIGCONT');
    }
    await waitFor(() => cache.getStats().redis_cache.breaker === 'closed', { what: 'the second close' });
  });
});

describe('Redis not there yet at start-up (own redis-server, started later)', () => {
  it('does not wait on a refused first connection, and sends what it owes once Redis is there, not as an outage', async () => {
    own = await OwnRedis.start();
    const server = own;
    await server.stop();
    f = new CacheFixture();
    const lines: string[] = [];
    const previous = getLogger();
    setLogger(
      pino(
        { level: 'info' },
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            lines.push(chunk.toString());
            done();
          },
        }),
      ),
    );
    try {
      const cache = f.openNow({ redis: server.url });
      await cache.set('early', 'written before Redis was there');
      expect(await cache.get('early')).toBe('written before Redis was there');
      expect(cache.getStats().redis_cache).toMatchObject({ connected: false, pending_invalidations: 1 });
      // Never connected: not an outage, so the breaker did not open.
      expect(cache.getStats().redis_cache.breaker_opens).toBe(0);

      await server.start();
      await waitFor(() => cache.getStats().redis_cache.pending_invalidations === 0, {
        timeoutMs: 15_000,
        what: 'the cache to connect and send its pending delete',
      });
      const messages = lines.map((line) => String((JSON.parse(line) as { msg?: unknown }).msg));
      expect(messages).toContain('cache sent the invalidations made before Redis first connected');
      expect(messages.filter((m) => m.includes('away'))).toEqual([]);
    } finally {
      setLogger(previous);
    }
  });
});
