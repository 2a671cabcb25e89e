import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Cache, cached, getCache, startCache, stopCache } from '../../src/cache/index.ts';
import { InvalidArgumentError, PerfSidecarError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';
import { compileFixture } from '../helpers/compile.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await stopCache();
  await f.cleanup();
});

describe('memory-only mode', () => {
  it('caches, tags, deletes and clears in process', async () => {
    const cache = f.openNow();
    await cache.set('a', 1, { tags: ['t1'] });
    await cache.set('b', 2, { tags: ['t2'] });
    await cache.set('c', 3);
    await cache.deleteByTags(['t1', 'never-used']);
    expect([await cache.get('a'), await cache.get('b'), await cache.get('c')]).toEqual([undefined, 2, 3]);
    await cache.delete('b');
    expect(await cache.get('b')).toBeUndefined();
    expect(await cache.getOrSet('d', () => 4, { tags: ['t1'] })).toBe(4);
    expect(await cache.get('d')).toBe(4);
    await cache.clear();
    expect(await cache.get('c')).toBeUndefined();
    expect(await cache.get('d')).toBeUndefined();
    expect(cache.getStats().redis_cache).toMatchObject({
      enabled: false,
      breaker: 'disabled',
      bus: 'disabled',
    });
    expect(await cache.ready()).toBe(true);
  });

  it('never revives an entry whose tag was invalidated and then forgotten', async () => {
    const cache = f.openNow({ maxTrackedTags: 1 });
    await cache.set('old', 'stale', { tags: ['a'] });
    await cache.deleteByTags(['a']);
    await cache.set('other', 'x', { tags: ['b'] }); // forgets tag a
    await cache.set('new', 'y', { tags: ['a'] }); // learns tag a again
    expect(await cache.get('old')).toBeUndefined();
    expect(await cache.get('new')).toBe('y');
  });
});

describe('module-level cache', () => {
  it('startCache once, getCache anywhere; a second initialize returns the same cache', async () => {
    expect(() => getCache()).toThrow(PerfSidecarError);
    const cache = startCache({ redis: TEST_REDIS_URL, prefix: f.prefix, name: 'module' });
    expect(await cache.ready()).toBe(true);
    expect(getCache()).toBe(cache);
    expect(startCache(TEST_REDIS_URL)).toBe(cache);
    await getCache().set('m', 'value');
    expect(await f.redis.exists(f.valueKey('m'))).toBe(1);
    await stopCache();
    expect(() => getCache()).toThrow(/not initialized; call startCache\(\) first/);
  });
});

describe('cached', () => {
  it('wraps an async function, keyed by its name and stable arguments', async () => {
    const cache = await f.open();
    let calls = 0;
    const load = cached({ ttlSeconds: 60, cache, tags: (id: number) => [`user:${id}`] })(
      async function loadUser(id: number, options: { full: boolean; lang: string }) {
        calls++;
        return { id, full: options.full, lang: options.lang };
      },
    );
    expect(load.name).toBe('loadUser');
    expect(await load(1, { full: true, lang: 'en' })).toEqual({ id: 1, full: true, lang: 'en' });
    expect(await load(1, { lang: 'en', full: true })).toEqual({ id: 1, full: true, lang: 'en' });
    expect(calls).toBe(1);
    expect(await f.redis.exists(f.valueKey('loadUser:[1,{"full":true,"lang":"en"}]'))).toBe(1);
    await cache.deleteByTags(['user:1']);
    await load(1, { full: true, lang: 'en' });
    expect(calls).toBe(2);
  });

  it('hashes long argument lists, and takes a key function when given', async () => {
    const cache = f.openNow();
    const echo = cached({ cache })(async function echo(text: string) {
      return text.length;
    });
    expect(await echo('z'.repeat(500))).toBe(500);
    const keyed = cached({ cache, key: (id: number) => `item:${id}` })(async (id: number) => id);
    expect(await keyed(5)).toBe(5);
    expect(await cache.get('item:5')).toBe(5);
    expect(cache.getStats().memory_cache.items).toBe(2);
  });

  it('refuses bad options, anonymous functions without a key, and arguments JSON cannot carry', async () => {
    const cache = f.openNow();
    expect(() => cached({ key: '' })).toThrow(InvalidArgumentError);
    expect(() => cached({ tags: 'x' as never })).toThrow(/options\.tags: is "x"/);
    expect(() => cached({ cache })(async () => 1)).toThrow(
      /fn: is an anonymous function; expected a named function, or options.key/,
    );
    const f1 = cached({ cache })(async function takesFn(_cb: () => void) {
      return 1;
    });
    await expect(f1(() => undefined)).rejects.toThrow(/^arguments: contains a function at \$\[0\]/);
  });

  it('works as a standard method decorator, keyed by class and method', async () => {
    const cache: Cache = await f.open();
    const calls: string[] = [];
    const { defineReports } =
      await compileFixture<typeof import('../fixtures/cached-methods.ts')>('cached-methods.ts');
    const { Reports, Invoices } = defineReports((options) => cached({ ...options, cache }), calls);
    const reports = new Reports();
    expect(await reports.monthly('2026-01', { region: 'eu', kind: 'x' })).toBe('report 2026-01 eu');
    expect(await new Reports().monthly('2026-01', { kind: 'x', region: 'eu' })).toBe('report 2026-01 eu');
    expect(await Reports.yearly(2026)).toBe(24312);
    expect(await Reports.yearly(2026)).toBe(24312);
    expect(await new Invoices().monthly('2026-01')).toBe('invoices 2026-01');
    expect(calls).toEqual(['monthly 2026-01', 'yearly 2026', 'invoices 2026-01']);
    expect(await f.redis.exists(f.valueKey('Reports.yearly:[2026]'))).toBe(1);
    await cache.deleteByTags(['reports']);
    await reports.monthly('2026-01', { region: 'eu', kind: 'x' });
    expect(calls).toHaveLength(4);
  });
});
