/**
 * Distributed single flight between processes: caches in child processes of their own
 * (test/cache/fixtures/peer.ts) on the shared test Redis, with `lockTimeoutMs` on. Factory runs are
 * counted in Redis (an INCR in the factory), across every process.
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

/** `n` ready peers with the given cache options. */
async function startPeers(n: number, cacheOptions: Record<string, unknown>): Promise<CachePeer[]> {
  const started = Array.from({ length: n }, (_, i) => {
    const p = new CachePeer(TEST_REDIS_URL, f.prefix, { name: `peer-${i}`, cacheOptions });
    peers.push(p);
    return p;
  });
  for (const p of started) expect(await p.call('ready')).toBe(true);
  return started;
}

describe('distributed single flight (lockTimeoutMs)', () => {
  it('runs the factory once in total for 4 processes × 250 concurrent getOrSet on a cold key', async () => {
    const all = await startPeers(4, { lockTimeoutMs: 10_000 });
    const counter = `${f.prefix}runs`;
    const ids = all.map((p) => p.send('stampede', { key: 'cold', count: 250, counter, workMs: 50 }));
    const answers = await Promise.all(all.map((p, i) => p.answer(ids[i] as number)));
    for (const answer of answers) {
      expect(answer.ok).toBe(true);
      expect(answer.result).toEqual({ calls: 250, values: ['value of run 1'], errors: [] });
    }
    expect(await f.redis.get(counter)).toBe('1');
    // The holder released its lock.
    await waitFor(async () => (await f.redis.exists(`${f.prefix}l:cold`)) === 0, {
      what: 'the lock to be released',
    });
  });

  it('a holder killed mid-factory: another process takes over once its lock expires, every caller gets the value', async () => {
    // Lock TTL: factoryHardTimeoutMs + 2 × redisCommandTimeoutMs = 1500 ms; the waiters wait longer.
    const all = await startPeers(3, { lockTimeoutMs: 20_000, factoryHardTimeoutMs: 1000 });
    const counter = `${f.prefix}runs`;
    const ids = all.map((p) =>
      p.send('stampede', { key: 'cold', count: 50, counter, workMs: 10, hangFirst: true }),
    );
    const pid = await waitFor(async () => (await f.redis.get(`${counter}:pid`)) ?? undefined, {
      what: 'the first factory run to start',
    });
    const holder = all.find((p) => String(p.pid) === pid);
    expect(holder).toBeDefined();
    await holder?.kill();
    const others = all.filter((p) => p !== holder);
    const answers = await Promise.all(others.map((p) => p.answer(ids[all.indexOf(p)] as number)));
    for (const answer of answers) {
      expect(answer.ok).toBe(true);
      expect(answer.result).toEqual({ calls: 50, values: ['value of run 2'], errors: [] });
    }
    // The dead holder's run and the one that took over.
    expect(await f.redis.get(counter)).toBe('2');
  });
});
