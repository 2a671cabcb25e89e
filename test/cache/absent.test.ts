/**
 * Absent results: a factory that returns `undefined` or `null` (a row not found) is cached as absent
 * with its own TTL, at both levels, and counted. The README's own pattern runs against the real
 * PostgreSQL through the database service.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CacheFactoryTimeoutError } from '../../src/cache/index.ts';
import type { Database } from '../../src/db/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';
import {
  countCheckouts,
  createUsers,
  dropSchema,
  testDatabase,
  USERS,
  type User,
  uniqueSchema,
} from '../helpers/db.ts';
import { waitFor } from '../helpers/wait.ts';

const schema = uniqueSchema();
const table = `${schema}.users`;
let db: Database;
let f: CacheFixture;
beforeAll(async () => {
  await createUsers(schema);
  db = await testDatabase();
});
afterAll(async () => {
  await db.close();
  await dropSchema(schema);
});
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

describe('absent values', () => {
  it('caches a missing row (getById through src/db) as absent, at both levels, with its own TTL', async () => {
    const cache = await f.open({ absentTtlSeconds: 5 });
    // The table is known to the service first: from here on each lookup is one checkout.
    expect(await db.getById<User>(table, 1)).toEqual(USERS[0]);
    const checkouts = countCheckouts(db);
    const lookup = (id: number) => cache.getOrSet(`user:${id}`, () => db.getById<User>(table, id));

    expect(await lookup(999)).toBeUndefined();
    expect(await lookup(999)).toBeUndefined();
    expect(await cache.get('user:999')).toBeUndefined();
    expect(checkouts.count).toBe(1);
    const stats = cache.getStats();
    expect(stats.factory).toMatchObject({ runs: 1, absent: 1, errors: 0 });
    expect(stats.memory_cache).toMatchObject({ hits: 2, absent_hits: 2 });

    // In Redis with the absent TTL, not the default 300 s.
    const pttl = await f.redis.pttl(f.valueKey('user:999'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(5000);

    // A found row keeps the normal TTL and is not counted as absent.
    expect(await lookup(3)).toEqual(USERS[2]);
    expect(await f.redis.pttl(f.valueKey('user:3'))).toBeGreaterThan(5000);
    expect(cache.getStats().factory).toMatchObject({ runs: 2, absent: 1 });

    // Another instance (its own memory) gets the absent entry from Redis: no query.
    const other = await f.open();
    expect(await other.getOrSet('user:999', () => db.getById<User>(table, 999))).toBeUndefined();
    expect(checkouts.count).toBe(2);
    expect(other.getStats().redis_cache).toMatchObject({ hits: 1, absent_hits: 1 });
    expect(other.getStats().factory.runs).toBe(0);
  });

  it('returns null as null and undefined as undefined, and expires absent entries after absentTtlSeconds', async () => {
    const cache = await f.open({ absentTtlSeconds: 0.3 });
    let runs = 0;
    const nothing = () => {
      runs++;
      return null;
    };
    expect(await cache.getOrSet('null', nothing)).toBeNull();
    expect(await cache.getOrSet('null', nothing)).toBeNull();
    expect(await cache.get('null')).toBeNull();
    expect(runs).toBe(1);
    await waitFor(
      async () => {
        await cache.getOrSet('null', nothing);
        return runs === 2;
      },
      { what: 'the absent entry to expire' },
    );
    // The normal TTL is untouched by the absent one.
    await cache.set('value', 'kept');
    expect(await f.redis.pttl(f.valueKey('value'))).toBeGreaterThan(1000);
  });

  it('uses a default absent TTL shorter than the default TTL; 0 caches no absent result', async () => {
    const cache = await f.open();
    expect(await cache.getOrSet('gone', () => undefined)).toBeUndefined();
    const pttl = await f.redis.pttl(f.valueKey('gone'));
    expect(pttl).toBeGreaterThan(0);
    expect(pttl).toBeLessThanOrEqual(30_000);

    const uncached = await f.open({ absentTtlSeconds: 0 });
    let runs = 0;
    for (let i = 0; i < 3; i++)
      expect(
        await uncached.getOrSet('other', () => {
          runs++;
          return undefined;
        }),
      ).toBeUndefined();
    expect(runs).toBe(3);
    expect(await f.redis.exists(f.valueKey('other'))).toBe(0);
    expect(() => f.openNow({ absentTtlSeconds: -1 })).toThrow(/options\.absentTtlSeconds/);
    await expect(cache.getOrSet('k', () => undefined, { absentTtlSeconds: Number.NaN })).rejects.toThrow(
      /options\.absentTtlSeconds/,
    );
  });

  it('drops an absent entry on deleteByTags and on delete, in memory-only mode too', async () => {
    for (const cache of [await f.open(), f.openNow()]) {
      let runs = 0;
      const lookup = () =>
        cache.getOrSet(
          'user:42',
          () => {
            runs++;
            return undefined;
          },
          { tags: ['user:42'] },
        );
      await lookup();
      await lookup();
      expect(runs).toBe(1);
      await cache.deleteByTags(['user:42']);
      await lookup();
      expect(runs).toBe(2);
      await cache.delete('user:42');
      await lookup();
      expect(runs).toBe(3);
    }
  });

  it('names the key in its errors', async () => {
    const cache = await f.open({ factoryHardTimeoutMs: 50 });
    const error = await cache
      .getOrSet('user:7', () => ({ id: 7, extra: undefined }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).argument).toBe('value');
    expect((error as Error).message).toContain('"user:7"');
    expect((error as Error).message).toContain('contains undefined (or an empty array slot) at $.extra');
    expect((error as Error).stack).toContain('"user:7"');

    const refused = await cache.set('when', new Date(0)).catch((e: unknown) => e);
    expect((refused as Error).message).toContain('"when"');

    const timeout = await cache
      .getOrSet('slow:1', () => new Promise(() => undefined))
      .catch((e: unknown) => e);
    expect(timeout).toBeInstanceOf(CacheFactoryTimeoutError);
    expect((timeout as Error).message).toContain('"slow:1"');
  });
});
