/**
 * Batch lookups (getMany, setMany, getOrSetMany) against the real Redis: round trips counted with
 * the chaos driver passing through, single flight shared with getOrSet, tags per key, two
 * instances, memory-only mode, bad input, and Redis away.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CacheFactoryTimeoutError, MAX_BATCH_KEYS } from '../../src/cache/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

/** A factory that records the keys of each call and answers `value:<key>` for each. */
function recording() {
  const calls: string[][] = [];
  const factory = (keys: readonly string[]) => {
    calls.push([...keys]);
    return new Map(keys.map((k) => [k, `value:${k}`]));
  };
  return { calls, factory };
}

/** A promise and the function that resolves it. */
function latch<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open: (value: T) => void = () => {};
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('getOrSetMany', () => {
  it('cold: one Redis read, one factory call, one write for all keys; warm: memory only', async () => {
    const { cache, l2 } = await f.openChaos();
    const { calls, factory } = recording();
    const sent = () => l2.sent.filter((op) => op !== 'syncClock');

    const cold = await cache.getOrSetMany(['a', 'b', 'c'], factory, { ttlSeconds: 60 });
    expect([...cold]).toEqual([
      ['a', 'value:a'],
      ['b', 'value:b'],
      ['c', 'value:c'],
    ]);
    expect(calls).toEqual([['a', 'b', 'c']]);
    expect(sent()).toEqual(['readMany', 'writeMany']);
    expect(await f.redis.exists(f.valueKey('a'), f.valueKey('b'), f.valueKey('c'))).toBe(3);

    const warm = await cache.getOrSetMany(['c', 'a', 'b'], factory);
    expect([...warm.keys()]).toEqual(['c', 'a', 'b']);
    expect(warm.get('b')).toBe('value:b');
    expect(calls).toHaveLength(1);
    expect(sent()).toEqual(['readMany', 'writeMany']); // no round trip for memory hits
    const stats = cache.getStats();
    expect(stats.memory_cache).toMatchObject({ hits: 3, misses: 3 });
    expect(stats.redis_cache).toMatchObject({ hits: 0, misses: 3 });
    expect(stats.factory).toMatchObject({ runs: 1, errors: 0 });
  });

  it('calls the factory once, for the keys neither memory nor Redis has', async () => {
    const writer = await f.open();
    await writer.set('in-redis', 'from redis');
    const { cache, l2 } = await f.openChaos();
    await cache.set('in-memory', 'from memory');
    const { calls, factory } = recording();
    const result = await cache.getOrSetMany(['in-memory', 'in-redis', 'new-1', 'new-2'], factory);
    expect(Object.fromEntries(result)).toEqual({
      'in-memory': 'from memory',
      'in-redis': 'from redis',
      'new-1': 'value:new-1',
      'new-2': 'value:new-2',
    });
    expect(calls).toEqual([['new-1', 'new-2']]);
    expect(l2.sent.filter((op) => op === 'readMany' || op === 'read')).toEqual(['readMany']);
    const stats = cache.getStats();
    expect(stats.memory_cache).toMatchObject({ hits: 1, misses: 3 });
    expect(stats.redis_cache).toMatchObject({ hits: 1, misses: 2 });
    // The Redis hit was kept in memory: asked again, nothing goes to Redis.
    const reads = l2.sent.length;
    expect((await cache.getOrSetMany(['in-redis'], factory)).get('in-redis')).toBe('from redis');
    expect(l2.sent.length).toBe(reads);
  });

  it('caches keys the factory leaves out (or maps to undefined or null) as absent', async () => {
    const cache = await f.open({ absentTtlSeconds: 5 });
    let runs = 0;
    const factory = (keys: readonly string[]) => {
      runs++;
      return new Map<string, string | null | undefined>(
        keys.flatMap((k): [string, string | null | undefined][] =>
          k === 'found' ? [[k, 'yes']] : k === 'null' ? [[k, null]] : k === 'undef' ? [[k, undefined]] : [],
        ),
      );
    };
    const keys = ['found', 'left-out', 'null', 'undef'];
    const first = await cache.getOrSetMany(keys, factory);
    expect([...first]).toEqual([
      ['found', 'yes'],
      ['left-out', undefined],
      ['null', null],
      ['undef', undefined],
    ]);
    expect([...(await cache.getOrSetMany(keys, factory))]).toEqual([...first]);
    expect(runs).toBe(1);
    expect(cache.getStats().factory.absent).toBe(3);
    const pttl = await f.redis.pttl(f.valueKey('left-out'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5000);
    // Another instance reads the absent entries from Redis.
    const other = await f.open();
    let otherRuns = 0;
    const again = await other.getOrSetMany(keys, (k) => {
      otherRuns++;
      return factory(k);
    });
    expect([...again]).toEqual([...first]);
    expect(otherRuns).toBe(0);
  });

  it('ignores values of keys it did not ask for', async () => {
    const cache = await f.open();
    const result = await cache.getOrSetMany(
      ['a'],
      () =>
        new Map([
          ['a', 1],
          ['extra', 2],
        ]),
    );
    expect([...result]).toEqual([['a', 1]]);
    expect(await cache.get('extra')).toBeUndefined();
    expect(await f.redis.exists(f.valueKey('extra'))).toBe(0);
  });

  it('a getOrSet of a key the batch is fetching waits for the batch instead of fetching it again', async () => {
    const cache = await f.open();
    const started = latch();
    const release = latch();
    let batchRuns = 0;
    const batch = cache.getOrSetMany(['x', 'y'], async (keys) => {
      batchRuns++;
      started.open();
      await release.promise;
      return new Map(keys.map((k) => [k, `batch:${k}`]));
    });
    await started.promise;
    let singleRuns = 0;
    const single = cache.getOrSet('x', () => {
      singleRuns++;
      return 'single';
    });
    release.open();
    expect(await single).toBe('batch:x');
    expect(Object.fromEntries(await batch)).toEqual({ x: 'batch:x', y: 'batch:y' });
    expect({ batchRuns, singleRuns }).toEqual({ batchRuns: 1, singleRuns: 0 });
    expect(cache.getStats().factory).toMatchObject({ runs: 1, coalesced: 1 });
  });

  it('a batch awaits keys a getOrSet (or another batch) is already fetching, and fetches only the rest', async () => {
    const cache = await f.open();
    const started = latch();
    const release = latch();
    const single = cache.getOrSet('x', async () => {
      started.open();
      await release.promise;
      return 'single';
    });
    await started.promise;
    const { calls, factory } = recording();
    const first = cache.getOrSetMany(['x', 'y'], factory);
    // A second batch over the same keys joins both flights: no factory call of its own.
    const second = cache.getOrSetMany(['y', 'x'], factory);
    release.open();
    expect(Object.fromEntries(await first)).toEqual({ x: 'single', y: 'value:y' });
    expect(Object.fromEntries(await second)).toEqual({ x: 'single', y: 'value:y' });
    expect(await single).toBe('single');
    expect(calls).toEqual([['y']]);
    expect(cache.getStats().factory).toMatchObject({ runs: 2, coalesced: 3 });
  });

  it('tags each key (a function of the key or one list), and deleteByTags invalidates them everywhere', async () => {
    const cache = await f.open();
    const other = await f.open();
    const { calls, factory } = recording();
    await cache.getOrSetMany(['a', 'b', 'c'], factory, { tags: (key) => [`item:${key}`, 'all'] });
    expect(Object.fromEntries(await other.getMany(['a', 'b', 'c']))).toEqual({
      a: 'value:a',
      b: 'value:b',
      c: 'value:c',
    });
    await cache.deleteByTags(['item:b']);
    await cache.getOrSetMany(['a', 'b', 'c'], factory, { tags: (key) => [`item:${key}`, 'all'] });
    expect(calls).toEqual([['a', 'b', 'c'], ['b']]);
    await waitFor(async () => (await other.getMany(['a', 'b', 'c'])).size === 3, {
      what: 'the other instance to see the recomputed b',
    });

    await other.deleteByTags(['all']);
    await waitFor(async () => (await cache.getMany(['a', 'b', 'c'])).size === 0, {
      what: 'the tag invalidation to reach the first instance',
    });
    await cache.getOrSetMany(['a', 'b'], factory, { tags: ['list'] });
    expect(calls.at(-1)).toEqual(['a', 'b']);
    await cache.deleteByTags(['list']);
    expect((await other.getMany(['a', 'b'])).size).toBe(0);
  });

  it('serves stale values within grace when the factory fails; rejects unless every key had one', async () => {
    const cache = await f.open({ graceSeconds: 60 });
    await cache.setMany(
      [
        ['s1', 'old 1'],
        ['s2', 'old 2'],
      ],
      { ttlSeconds: 0.05 },
    );
    await waitFor(async () => (await cache.get('s1')) === undefined, { what: 's1 to go stale' });
    const boom = new Error('database down');
    const asked: string[][] = [];
    const failing = (keys: readonly string[]) => {
      asked.push([...keys]);
      throw boom;
    };
    expect(Object.fromEntries(await cache.getOrSetMany(['s1', 's2'], failing))).toEqual({
      s1: 'old 1',
      s2: 'old 2',
    });
    expect(cache.getStats().memory_cache.stale_serves).toBe(2);
    await expect(cache.getOrSetMany(['s1', 'fresh-key'], failing)).rejects.toBe(boom);
    // s1 is in its backoff: served stale without asking the factory again.
    expect(asked).toEqual([['s1', 's2'], ['fresh-key']]);
    expect(cache.getStats().factory).toMatchObject({ runs: 2, errors: 2 });
    expect(cache.getStats().memory_cache.stale_serves).toBe(3);
  });

  it('serves stale values at the soft timeout when every key has one; the factory finishes in the background', async () => {
    const cache = await f.open({ graceSeconds: 60, factorySoftTimeoutMs: 20, factoryHardTimeoutMs: 10_000 });
    await cache.setMany(
      [
        ['a', 'old a'],
        ['b', 'old b'],
      ],
      { ttlSeconds: 0.05 },
    );
    await waitFor(async () => (await cache.get('a')) === undefined, { what: 'a to go stale' });
    const release = latch();
    let seen: ReadonlyMap<string, unknown> | undefined;
    const slow = async (keys: readonly string[], context: { staleValues: ReadonlyMap<string, unknown> }) => {
      seen = context.staleValues;
      await release.promise;
      return new Map(keys.map((k) => [k, `new ${k}`]));
    };
    expect(Object.fromEntries(await cache.getOrSetMany(['a', 'b'], slow))).toEqual({
      a: 'old a',
      b: 'old b',
    });
    expect(Object.fromEntries(seen ?? [])).toEqual({ a: 'old a', b: 'old b' });
    expect(cache.getStats().factory.soft_timeouts).toBe(1);
    release.open();
    await waitFor(async () => (await cache.get('b')) === 'new b', { what: 'the background result' });
    expect(await f.redis.exists(f.valueKey('a'), f.valueKey('b'))).toBe(2);
  });

  it('passes stale values to the factory and rejects with CacheFactoryTimeoutError at the hard timeout', async () => {
    const cache = await f.open({ factoryHardTimeoutMs: 50 });
    let signal: AbortSignal | undefined;
    const never = (_keys: readonly string[], context: { signal: AbortSignal }) => {
      signal = context.signal;
      return new Promise<Map<string, number>>(() => {});
    };
    await expect(cache.getOrSetMany(['slow'], never)).rejects.toBeInstanceOf(CacheFactoryTimeoutError);
    expect(signal?.aborted).toBe(true);
    expect(cache.getStats().factory.hard_timeouts).toBe(1);
  });
});

describe('getMany and setMany', () => {
  it('setMany writes every entry in one round trip; another instance sees them and drops older copies', async () => {
    const { cache: a, l2 } = await f.openChaos();
    const b = await f.open();
    await b.set('k1', 'old');
    expect(await b.get('k1')).toBe('old');
    await a.setMany(
      new Map<string, unknown>([
        ['k1', 'new'],
        ['k2', { n: 2 }],
        ['k3', null],
      ]),
      { ttlSeconds: 60 },
    );
    expect(l2.sent.filter((op) => op.startsWith('write'))).toEqual(['writeMany']);
    await waitFor(async () => (await b.get('k1')) === 'new', { what: 'b to see the new k1' });
    expect([...(await b.getMany(['k1', 'k2', 'k3', 'none']))]).toEqual([
      ['k1', 'new'],
      ['k2', { n: 2 }],
      ['k3', null],
    ]);
    const pttl = await f.redis.pttl(f.valueKey('k2'));
    expect(pttl).toBeGreaterThan(50_000);
    expect(pttl).toBeLessThanOrEqual(60_000);
  });

  it('getMany answers from memory without Redis, and reads the rest in one round trip', async () => {
    const { cache, l2 } = await f.openChaos();
    const writer = await f.open();
    await writer.setMany([
      ['r1', 1],
      ['r2', 2],
    ]);
    await cache.set('m1', 'memory');
    const before = l2.sent.length;
    const found = await cache.getMany(['m1', 'r1', 'r2', 'none']);
    expect([...found]).toEqual([
      ['m1', 'memory'],
      ['r1', 1],
      ['r2', 2],
    ]);
    expect(found.has('none')).toBe(false);
    expect(l2.sent.slice(before).filter((op) => op !== 'syncClock')).toEqual(['readMany']);
    const after = l2.sent.length;
    expect((await cache.getMany(['m1', 'r1', 'r2'])).size).toBe(3);
    expect(l2.sent.length).toBe(after);
  });

  it('setMany applies tags per key; deleteByTags invalidates them', async () => {
    const cache = await f.open();
    await cache.setMany(
      [
        ['u:1', 'one'],
        ['u:2', 'two'],
      ],
      { tags: (key) => [key.replace('u:', 'user-')] },
    );
    await cache.deleteByTags(['user-1']);
    expect([...(await cache.getMany(['u:1', 'u:2']))]).toEqual([['u:2', 'two']]);
  });
});

describe('memory-only mode', () => {
  it('getOrSetMany, getMany and setMany work without Redis', async () => {
    const cache = f.openNow();
    const { calls, factory } = recording();
    expect((await cache.getOrSetMany(['a', 'b'], factory, { tags: ['t'] })).get('b')).toBe('value:b');
    expect((await cache.getOrSetMany(['a', 'b', 'c'], factory)).get('c')).toBe('value:c');
    expect(calls).toEqual([['a', 'b'], ['c']]);
    await cache.setMany([['d', 4]]);
    expect(Object.fromEntries(await cache.getMany(['a', 'd', 'x']))).toEqual({ a: 'value:a', d: 4 });
    await cache.deleteByTags(['t']);
    expect([...(await cache.getMany(['a', 'b', 'c']))]).toEqual([['c', 'value:c']]);
    expect(cache.getStats().redis_cache.enabled).toBe(false);
  });
});

describe('bad input', () => {
  it('refuses bad keys, too many keys, a bad factory and bad options, naming what was wrong', async () => {
    const cache = f.openNow({ maxKeyLength: 10 });
    const factory = () => new Map();
    const refusal = (call: () => Promise<unknown>) =>
      call().then(
        () => undefined,
        (error: unknown) => error,
      );
    const tooMany = Array.from({ length: MAX_BATCH_KEYS + 1 }, (_, i) => `k${i}`);
    const cases: [() => Promise<unknown>, string][] = [
      [
        () => cache.getMany('abc' as never),
        'keys: is "abc"; expected an array (or other iterable) of at most 1000 keys',
      ],
      [() => cache.getMany(tooMany), `keys: has more than ${MAX_BATCH_KEYS} keys`],
      [
        () => cache.getOrSetMany(['ok', ''], factory),
        'keys[1]: is ""; expected a non-empty string of at most 10 characters',
      ],
      [() => cache.getMany(['ok', 'x'.repeat(11)]), 'keys[1]: is 11 characters long, over maxKeyLength 10'],
      [
        () => cache.getOrSetMany(['a'], 'nope' as never),
        'factory: is "nope"; expected a function of the missing keys',
      ],
      [() => cache.getOrSetMany(['a'], factory, { tags: ['bad\n'] }), 'options.tags[0]: is'],
      [() => cache.getOrSetMany(['a'], factory, { tags: () => 'x' as never }), 'options.tags("a"): is "x"'],
      [() => cache.getOrSetMany(['a'], factory, { ttlSeconds: -1 }), 'options.ttlSeconds: is -1'],
      [
        () => cache.setMany([['a', 1, 2] as never]),
        'entries[0]: is an array of 3; expected a [key, value] pair',
      ],
      [
        () => cache.setMany(7 as never),
        'entries: is 7; expected a Map, or an iterable of [key, value] pairs',
      ],
    ];
    for (const [call, message] of cases) {
      const error = await refusal(call);
      expect(error, message).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toContain(message);
    }
  });

  it('rejects a factory result that is not a Map, naming what it returned; caches nothing', async () => {
    const cache = await f.open();
    const plain = cache.getOrSetMany(['a'], () => ({ a: 1 }) as never);
    await expect(plain).rejects.toThrow(
      'factory result (getOrSetMany): is a plain object; expected a Map of each key asked for to its value',
    );
    await expect(cache.getOrSetMany(['a'], () => [['a', 1]] as never)).rejects.toThrow('is an array of 1');
    expect(await cache.get('a')).toBeUndefined();
  });

  it('setMany stores nothing when one value is refused; getOrSetMany names the key and caches the others', async () => {
    const cache = await f.open();
    await expect(
      cache.setMany([
        ['good', 1],
        ['bad', { when: new Date(0) }],
      ]),
    ).rejects.toThrow(/value \(key "bad"\): contains a Date/);
    expect(await cache.get('good')).toBeUndefined();
    expect(await f.redis.exists(f.valueKey('good'))).toBe(0);

    await expect(
      cache.getOrSetMany(
        ['ok', 'bad'],
        () =>
          new Map<string, unknown>([
            ['ok', 1],
            ['bad', () => 0],
          ]),
      ),
    ).rejects.toThrow(/key "bad"/);
    expect(await cache.get('ok')).toBe(1);
  });
});

describe('Redis away', () => {
  it('returns the factory results (cached in memory) when Redis is down, and counts the skipped round trips', async () => {
    const { cache, l2 } = await f.openChaos();
    l2.disconnect();
    const { calls, factory } = recording();
    const result = await cache.getOrSetMany(['a', 'b'], factory);
    expect(Object.fromEntries(result)).toEqual({ a: 'value:a', b: 'value:b' });
    expect(calls).toEqual([['a', 'b']]);
    expect((await cache.getOrSetMany(['a', 'b'], factory)).get('a')).toBe('value:a');
    expect(calls).toHaveLength(1);
    expect(cache.getStats().redis_cache.skipped).toBeGreaterThan(0);
    expect(cache.getStats().redis_cache.pending_invalidations).toBe(2);
    await cache.setMany([['c', 3]]);
    expect(Object.fromEntries(await cache.getMany(['a', 'c']))).toEqual({ a: 'value:a', c: 3 });
  });

  it('goes on with the factory when the batch read fails', async () => {
    const { cache, l2 } = await f.openChaos();
    l2.failNext('readMany').failNext('writeMany');
    const { calls, factory } = recording();
    expect(Object.fromEntries(await cache.getOrSetMany(['a', 'b'], factory))).toEqual({
      a: 'value:a',
      b: 'value:b',
    });
    expect(calls).toEqual([['a', 'b']]);
    expect(cache.getStats().redis_cache.errors).toBe(2);
    // The failed write left pending deletes, so no instance reads an older value from Redis.
    expect(cache.getStats().redis_cache.pending_invalidations).toBe(2);
  });
});

describe('getOrSetMany joined with a failing flight', () => {
  it('rejects with the joined flight error, after its own factory, and leaves no unhandled rejection', async () => {
    const cache = await f.open();
    const failA = latch();
    const ownDone = latch<Map<string, string>>();
    const single = cache.getOrSet('a', async () => {
      await failA.promise;
      throw new Error('boom');
    });
    const batch = cache.getOrSetMany(['a', 'b'], () => ownDone.promise);
    // The joined flight fails while the batch's own factory still runs: vitest fails the run on an
    // unhandled rejection.
    failA.open();
    await expect(single).rejects.toThrow('boom');
    ownDone.open(new Map([['b', 'value:b']]));
    await expect(batch).rejects.toThrow('boom');
    expect(await cache.get('b')).toBe('value:b');
  });
});
