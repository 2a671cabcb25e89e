/**
 * Distributed single flight (`lockTimeoutMs`) and eager refresh (`eagerRefresh`) in one process:
 * two caches on the same prefix stand for two processes (each has its own bus id, so each hears
 * the other's messages). Factories block on gates the tests open; nothing waits on a clock.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Cache } from '../../src/cache/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';
import type { ChaosDriver } from '../helpers/cache-chaos.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

function gate<T>(): { promise: Promise<T>; open: (value: T) => void; fail: (error: Error) => void } {
  let open!: (value: T) => void;
  let fail!: (error: Error) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

/** How many times `op` was sent by a chaos driver. */
const sent = (l2: ChaosDriver, op: string) => l2.sent.filter((o) => o === op).length;

/**
 * Two caches' concurrent getOrSet on one cold key, each factory waiting until both factories run:
 * it settles only if both run (no lock between them).
 */
async function bothRun(a: Cache, b: Cache, options?: { lockTimeoutMs?: number }): Promise<unknown[]> {
  let runs = 0;
  const both = gate<void>();
  const factory = (name: string) => async () => {
    if (++runs === 2) both.open();
    await both.promise;
    return name;
  };
  const results = await Promise.all([
    a.getOrSet('cold', factory('a'), options),
    b.getOrSet('cold', factory('b'), options),
  ]);
  expect(runs).toBe(2);
  return results;
}

describe('distributed single flight in one process', () => {
  it('is off by default: two caches on one prefix each run their factory', async () => {
    const a = await f.open();
    const b = await f.open();
    expect(await bothRun(a, b)).toEqual(['a', 'b']);
    expect(await f.redis.keys(`${f.prefix}l:*`)).toEqual([]);
  });

  it('is off for a call with lockTimeoutMs 0, and on for a call that sets it', async () => {
    const a = await f.open({ lockTimeoutMs: 10_000 });
    const b = await f.open({ lockTimeoutMs: 10_000 });
    expect(await bothRun(a, b, { lockTimeoutMs: 0 })).toEqual(['a', 'b']);

    // Off for the caches, on for these calls: b waits for a's value.
    const { cache: c, l2: l2c } = await f.openChaos();
    const { cache: d, l2: l2d } = await f.openChaos();
    const release = gate<string>();
    let runs = 0;
    const held = c.getOrSet(
      'k',
      () => {
        runs++;
        return release.promise;
      },
      { lockTimeoutMs: 10_000 },
    );
    await waitFor(() => runs === 1 && sent(l2c, 'acquireLock') === 1, { what: 'c to hold the lock' });
    expect(await f.redis.exists(`${f.prefix}l:k`)).toBe(1);
    const waiting = d.getOrSet(
      'k',
      () => {
        runs++;
        return 'from d';
      },
      { lockTimeoutMs: 10_000 },
    );
    // d missed, found the lock taken, and looked again after it started listening: it waits.
    await waitFor(() => sent(l2d, 'acquireLock') === 1 && sent(l2d, 'read') >= 2, { what: 'd to wait' });
    release.open('from c');
    expect(await Promise.all([held, waiting])).toEqual(['from c', 'from c']);
    expect(runs).toBe(1);
    await waitFor(async () => (await f.redis.exists(`${f.prefix}l:k`)) === 0, { what: 'the release' });
  });

  it('refuses bad per-call values, naming the option and the accepted form', async () => {
    const cache = await f.open();
    const lock = await rejectionOf(
      cache.getOrSet('k', () => 1, { lockTimeoutMs: -1 }),
      InvalidArgumentError,
    );
    expect(lock.message).toBe(
      'options.lockTimeoutMs: is -1; expected an integer number of milliseconds from 0 (off) to 3600000',
    );
    const eager = await rejectionOf(
      cache.getOrSet('k', () => 1, { eagerRefresh: 1 }),
      InvalidArgumentError,
    );
    expect(eager.message).toBe(
      'options.eagerRefresh: is 1; expected 0 (off) or a number greater than 0 and below 1',
    );
  });

  it('is skipped while Redis is down: single flight per process only, nothing waits', async () => {
    const { cache: a, l2: l2a } = await f.openChaos({ lockTimeoutMs: 10_000 });
    const { cache: b, l2: l2b } = await f.openChaos({ lockTimeoutMs: 10_000 });
    l2a.disconnect();
    l2b.disconnect();
    let runs = 0;
    const both = gate<void>();
    const factory = (name: string) => async () => {
      if (++runs === 2) both.open();
      await both.promise;
      return name;
    };
    const calls = [
      ...Array.from({ length: 50 }, () => a.getOrSet('cold', factory('a'))),
      ...Array.from({ length: 50 }, () => b.getOrSet('cold', factory('b'))),
    ];
    const results = await Promise.all(calls);
    expect(runs).toBe(2);
    expect(new Set(results)).toEqual(new Set(['a', 'b']));
    expect(sent(l2a, 'acquireLock') + sent(l2b, 'acquireLock')).toBe(0);
  });

  it('a waiter past lockTimeoutMs serves its stale value within grace', async () => {
    const { cache: a, l2: l2a } = await f.openChaos({ lockTimeoutMs: 10_000, graceSeconds: 60 });
    const b = await f.open({ lockTimeoutMs: 100, graceSeconds: 60 });
    await b.set('k', 'old', { ttlSeconds: 0.05 });
    await waitFor(async () => (await b.get('k')) === undefined, { what: 'the entry to expire' });
    const release = gate<string>();
    const held = a.getOrSet('k', () => release.promise);
    await waitFor(() => sent(l2a, 'acquireLock') === 1 && a.getStats().factory.in_flight === 1, {
      what: 'a to hold the lock and run its factory',
    });
    let bRuns = 0;
    const served = await b.getOrSet('k', () => {
      bRuns++;
      return 'from b';
    });
    expect(served).toBe('old');
    expect(bRuns).toBe(0);
    const stats = b.getStats();
    expect(stats.memory_cache.stale_serves + stats.redis_cache.stale_serves).toBe(1);
    release.open('new');
    expect(await held).toBe('new');
  });

  it('a waiter past lockTimeoutMs without a stale value runs its own factory', async () => {
    const { cache: a, l2: l2a } = await f.openChaos({ lockTimeoutMs: 10_000 });
    const b = await f.open({ lockTimeoutMs: 100 });
    const release = gate<string>();
    const held = a.getOrSet('k', () => release.promise);
    await waitFor(() => sent(l2a, 'acquireLock') === 1 && a.getStats().factory.in_flight === 1, {
      what: 'a to hold the lock and run its factory',
    });
    expect(await b.getOrSet('k', () => 'from b')).toBe('from b');
    release.open('from a');
    expect(await held).toBe('from a');
  });

  it('a holder whose factory fails releases the lock: a waiter takes over at once (no wait for its timeout)', async () => {
    const { cache: a, l2: l2a } = await f.openChaos({ lockTimeoutMs: 10_000 });
    const { cache: b, l2: l2b } = await f.openChaos({ lockTimeoutMs: 600_000 });
    const release = gate<string>();
    const held = a.getOrSet('k', () => release.promise);
    await waitFor(() => sent(l2a, 'acquireLock') === 1 && a.getStats().factory.in_flight === 1, {
      what: 'a to hold the lock',
    });
    const waiting = b.getOrSet('k', () => 'from b');
    await waitFor(() => sent(l2b, 'acquireLock') === 1 && sent(l2b, 'read') >= 2, { what: 'b to wait' });
    release.fail(new Error('backend down'));
    await expect(held).rejects.toThrow('backend down');
    // Woken by the release message (a 10-minute wait otherwise), b takes the lock and runs its factory.
    expect(await waiting).toBe('from b');
    expect(sent(l2b, 'acquireLock')).toBe(2);
  });

  it('close() ends a wait with CacheClosedError', async () => {
    const { cache: a, l2: l2a } = await f.openChaos({ lockTimeoutMs: 10_000 });
    const { cache: b, l2: l2b } = await f.openChaos({ lockTimeoutMs: 600_000 });
    const release = gate<string>();
    const held = a.getOrSet('k', () => release.promise);
    await waitFor(() => sent(l2a, 'acquireLock') === 1, { what: 'a to hold the lock' });
    const waiting = b.getOrSet('k', () => 'from b');
    await waitFor(() => sent(l2b, 'acquireLock') === 1 && sent(l2b, 'read') >= 2, { what: 'b to wait' });
    const ended = waiting.then(
      () => undefined,
      (error: unknown) => error,
    );
    await b.close();
    expect(await ended).toMatchObject({ code: 'PERF_CACHE_CLOSED' });
    release.open('from a');
    expect(await held).toBe('from a');
  });
});

describe('eager refresh', () => {
  /** A factory whose first run returns `v1` and whose later runs wait on `later`. */
  function refreshing(later: () => Promise<string>) {
    const state = { runs: 0 };
    const factory = () => (++state.runs === 1 ? 'v1' : later());
    return { state, factory };
  }

  for (const where of ['cache', 'call'] as const) {
    it(`serves the old value at once while one background refresh runs (eagerRefresh per ${where})`, async () => {
      const cache = await f.open(where === 'cache' ? { eagerRefresh: 0.02 } : {});
      // TTL 10 s: a refresh starts once 0.2 s of it have passed, long before it expires.
      const options = { ttlSeconds: 10, ...(where === 'call' ? { eagerRefresh: 0.02 } : {}) };
      const release = gate<string>();
      const { state, factory } = refreshing(() => release.promise);
      expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
      await waitFor(
        async () => {
          expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
          return state.runs === 2;
        },
        { what: 'the refresh to start' },
      );
      // The refresh's factory is blocked: every call resolves with the old value, none starts another.
      const during = await Promise.all(
        Array.from({ length: 200 }, () => cache.getOrSet('hot', factory, options)),
      );
      expect(new Set(during)).toEqual(new Set(['v1']));
      expect(state.runs).toBe(2);
      release.open('v2');
      await waitFor(async () => (await cache.getOrSet('hot', factory, options)) === 'v2', {
        what: 'the refreshed value',
      });
      // Written to Redis as usual, for the other processes.
      expect(await f.redis.get(f.valueKey('hot'))).toContain('"v2"');
    });
  }

  it('is off for a call with eagerRefresh 0', async () => {
    const cache = await f.open({ eagerRefresh: 0.02 });
    const { state, factory } = refreshing(async () => 'v2');
    expect(await cache.getOrSet('hot', factory, { ttlSeconds: 10 })).toBe('v1');
    // Polls past the refresh point (0.2 s) on a per-call off switch, then proves the switch mattered.
    await waitFor(
      async () => {
        await cache.getOrSet('hot', factory, { ttlSeconds: 10, eagerRefresh: 0 });
        return (await cache.getOrSet('hot', factory, { ttlSeconds: 10 })) === 'v2' || undefined;
      },
      { what: 'the refresh by a call that has it on' },
    );
    expect(state.runs).toBe(2);
  });

  it('a failing refresh leaves the old value served until its TTL, then grace applies', async () => {
    const cache = await f.open({ eagerRefresh: 0.5, graceSeconds: 60, graceBackoffSeconds: 0.05 });
    const options = { ttlSeconds: 1 };
    const state = { runs: 0 };
    const factory = () => {
      if (++state.runs === 1) return 'v1';
      throw new Error('backend down');
    };
    expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
    await waitFor(
      async () => {
        expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
        return state.runs >= 2;
      },
      { what: 'a refresh to fail' },
    );
    expect(cache.getStats().factory.errors).toBeGreaterThan(0);
    // Still fresh (get serves fresh values only) and served, until its TTL passes.
    await waitFor(
      async () => {
        expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
        return (await cache.get('hot')) === undefined;
      },
      { what: 'the TTL to pass' },
    );
    const before = cache.getStats();
    expect(await cache.getOrSet('hot', factory, options)).toBe('v1');
    const after = cache.getStats();
    expect(
      after.memory_cache.stale_serves +
        after.redis_cache.stale_serves -
        before.memory_cache.stale_serves -
        before.redis_cache.stale_serves,
    ).toBe(1);
  });

  it('with lockTimeoutMs, one refresh across processes: another holding the lock is left to it', async () => {
    const opts = { eagerRefresh: 0.02, lockTimeoutMs: 10_000 };
    const a = await f.open(opts);
    const { cache: b, l2: l2b } = await f.openChaos(opts);
    const release = gate<string>();
    const { state, factory } = refreshing(() => release.promise);
    const options = { ttlSeconds: 10 };
    expect(await a.getOrSet('hot', factory, options)).toBe('v1');
    expect(await b.getOrSet('hot', factory, options)).toBe('v1');
    await waitFor(
      async () => {
        await a.getOrSet('hot', factory, options);
        return state.runs === 2;
      },
      { what: "a's refresh to start" },
    );
    await waitFor(
      async () => {
        expect(await b.getOrSet('hot', factory, options)).toBe('v1');
        return sent(l2b, 'acquireLock') >= 1;
      },
      { what: 'b to find the lock taken' },
    );
    expect(state.runs).toBe(2);
    release.open('v2');
    // a's write reaches b on the bus; b reads it from Redis.
    await waitFor(async () => (await b.getOrSet('hot', factory, options)) === 'v2', {
      what: "a's refreshed value in b",
    });
    expect(state.runs).toBe(2);
  });
});

describe('the lock within one process, and on close', () => {
  it('wakes a waiter of the same process when the holder releases: one factory run, no wait for lockTimeoutMs', async () => {
    // With one single-flight slot the second caller is not coalesced: it contends for the Redis lock
    // that the first one holds in this same process.
    const a = await f.open({ lockTimeoutMs: 600_000, maxPendingFactories: 1 });
    const release = gate<void>();
    let runs = 0;
    const factory = async () => {
      runs++;
      await release.promise;
      return `run ${runs}`;
    };
    const first = a.getOrSet('same-process', factory);
    await waitFor(async () => (await f.redis.exists(`${f.prefix}l:same-process`)) === 1, {
      what: 'the first caller holding the lock',
    });
    const second = a.getOrSet('same-process', factory);
    release.open();
    expect(await Promise.all([first, second])).toEqual(['run 1', 'run 1']);
    expect(runs).toBe(1);
  });

  it('gives up the locks it holds when it closes, so other processes do not wait for their expiry', async () => {
    const a = await f.open({ lockTimeoutMs: 600_000 });
    // A factory that ends when its signal aborts (close() aborts it).
    const pending = a.getOrSet(
      'closing',
      ({ signal }) =>
        new Promise<string>((_resolve, reject) =>
          signal.addEventListener('abort', () => reject(signal.reason)),
        ),
    );
    const outcome = pending.then(
      () => 'resolved',
      (error: unknown) => error,
    );
    await waitFor(async () => (await f.redis.exists(`${f.prefix}l:closing`)) === 1, {
      what: 'the lock taken',
    });
    await a.close();
    expect(await f.redis.exists(`${f.prefix}l:closing`)).toBe(0);
    expect(await outcome).toBeInstanceOf(Error);
  });
});
