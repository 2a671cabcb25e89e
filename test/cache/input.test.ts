import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeEnvelope, encodeEnvelopeTail } from '../../src/cache/envelope.ts';
import { CacheClosedError, createCache, jsonSerializer } from '../../src/cache/index.ts';
import { assertJsonRoundTrip, stableStringify } from '../../src/cache/serializer.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

/** Runs `fn`, expecting an InvalidArgumentError; returns it for closer checks. */
async function refused(fn: () => unknown): Promise<InvalidArgumentError> {
  try {
    await fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).code).toBe('PERF_INVALID_ARGUMENT');
    return error as InvalidArgumentError;
  }
  throw new Error('expected an InvalidArgumentError, nothing was thrown');
}

describe('bad input gets a clear error and changes nothing', () => {
  it('refuses empty, non-string and over-long keys', async () => {
    const cache = f.openNow({ maxKeyLength: 10 });
    expect((await refused(() => cache.get(''))).message).toBe(
      'key: is ""; expected a non-empty string of at most 10 characters',
    );
    expect((await refused(() => cache.set('k'.repeat(11), 1))).message).toContain(
      'is 11 characters long, over maxKeyLength 10',
    );
    expect((await refused(() => cache.delete(42 as unknown as string))).argument).toBe('key');
    expect((await refused(() => cache.getOrSet('k', 'not a function' as never))).argument).toBe('factory');
    expect(cache.getStats().memory_cache).toMatchObject({ hits: 0, misses: 0, items: 0 });
  });

  it('refuses non-finite, zero, negative and too long TTLs and graces', async () => {
    const cache = f.openNow({ maxTtlSeconds: 3600 });
    for (const ttlSeconds of [Number.NaN, Number.POSITIVE_INFINITY, 0, -1, 3601, '60' as unknown as number]) {
      const error = await refused(() => cache.set('k', 1, { ttlSeconds }));
      expect(error.argument).toBe('options.ttlSeconds');
      expect(error.message).toContain(
        'a finite number of seconds greater than 0, at most maxTtlSeconds (3600)',
      );
    }
    expect((await refused(() => cache.getOrSet('k', () => 1, { graceSeconds: -1 }))).argument).toBe(
      'options.graceSeconds',
    );
    expect(await cache.get('k')).toBeUndefined();
  });

  it('refuses tags that are not an array of short printable strings', async () => {
    const cache = f.openNow({ maxTagsPerEntry: 2, maxTagLength: 5 });
    expect((await refused(() => cache.set('k', 1, { tags: 'user' as unknown as string[] }))).message).toBe(
      'options.tags: is "user"; expected an array of tag strings',
    );
    expect((await refused(() => cache.set('k', 1, { tags: ['a', 'b', 'c'] }))).message).toContain(
      'has 3 tags; expected at most maxTagsPerEntry (2)',
    );
    expect((await refused(() => cache.set('k', 1, { tags: ['ok', 7 as unknown as string] }))).argument).toBe(
      'options.tags[1]',
    );
    expect((await refused(() => cache.set('k', 1, { tags: ['toolong'] }))).argument).toBe('options.tags[0]');
    expect((await refused(() => cache.deleteByTags(['line\nbreak']))).argument).toBe('tags[0]');
    expect((await refused(() => cache.deleteByTags({} as string[]))).argument).toBe('tags');
    expect(await cache.get('k')).toBeUndefined();
  });

  it('refuses unknown and out-of-range options, never echoing a Redis URL', async () => {
    expect((await refused(() => createCache({ maxItem: 5 } as never))).message).toMatch(
      /^options\.maxItem: is not a cache option; expected one of /,
    );
    expect((await refused(() => createCache({ maxItems: 0 }))).message).toBe(
      'options.maxItems: is 0; expected an integer from 1 to 100000000',
    );
    expect((await refused(() => createCache({ maxBytes: 100, maxEntryBytes: 101 }))).argument).toBe(
      'options.maxEntryBytes',
    );
    expect(
      (await refused(() => createCache({ factoryHardTimeoutMs: 100, factorySoftTimeoutMs: 100 }))).argument,
    ).toBe('options.factorySoftTimeoutMs');
    const secret = await refused(() => createCache({ redis: 'http://user:hunter2@example' }));
    expect(secret.message).not.toContain('hunter2');
    expect(secret.argument).toBe('options.redis');
  });

  it('refuses values JSON cannot round-trip, naming where they are', async () => {
    const cache = f.openNow();
    const cyclic: Record<string, unknown> = { a: 1 };
    const sparse: number[] = [1];
    sparse[2] = 3; // an empty slot at [1], which JSON turns into null
    cyclic.self = cyclic;
    const cases: [unknown, string][] = [
      [undefined, 'contains undefined (or an empty array slot) at $'],
      [{ a: { b: undefined } }, 'at $.a.b'],
      [sparse, 'contains undefined (or an empty array slot) at $[1]'],
      [{ f: () => 1 }, 'contains a function at $.f'],
      [{ s: Symbol('x') }, 'contains a symbol at $.s'],
      [{ n: 10n }, 'contains a BigInt at $.n'],
      [{ x: Number.NaN }, 'contains NaN at $.x'],
      [[Number.POSITIVE_INFINITY], 'contains Infinity at $[0]'],
      [{ when: new Date(0) }, 'contains a Date at $.when'],
      [{ 'odd key': new Map() }, 'contains a Map at $["odd key"]'],
      [new Set([1]), 'contains a Set at $'],
      [{ buf: new Uint8Array(2) }, 'contains a Uint8Array at $.buf'],
      [{ u: new URL('http://x') }, 'contains an instance of URL at $.u'],
      [cyclic, 'contains a circular reference at $.self'],
      [{ [Symbol('k')]: 1 }, 'contains symbol-keyed properties at $'],
    ];
    for (const [value, message] of cases) {
      const error = await refused(() => cache.set('v', value));
      expect(error.argument).toBe('value');
      expect(error.message).toContain(message);
      expect(error.message).toContain('toISOString()');
    }
    let deep: unknown = 1;
    for (let i = 0; i < 300; i++) deep = [deep];
    expect((await refused(() => cache.set('v', deep))).message).toContain('nesting deeper than 256 levels');
    expect(await cache.get('v')).toBeUndefined();
    expect(cache.getStats().memory_cache.items).toBe(0);
  });

  it('accepts what JSON round-trips, null and shared (non-cyclic) references included', async () => {
    const cache = f.openNow();
    const shared = { id: 1 };
    const value = { a: [shared, shared], n: null, s: 'é', x: -1.5, t: true, o: Object.create(null) };
    await cache.set('ok', value);
    expect(await cache.get('ok')).toEqual(JSON.parse(JSON.stringify(value)));
    await cache.set('null', null);
    expect(await cache.get('null')).toBeNull();
    expect(() => assertJsonRoundTrip({ nested: [{ deep: ['fine'] }] })).not.toThrow();
    expect(jsonSerializer.deserialize(jsonSerializer.serialize([1, 'two']))).toEqual([1, 'two']);
  });

  it('refuses values over maxValueBytes, and in memory-only mode over maxEntryBytes', async () => {
    const withRedis = await f.open({ maxValueBytes: 50 });
    expect((await refused(() => withRedis.set('big', 'x'.repeat(60)))).message).toContain(
      'is 62 bytes serialized, over maxValueBytes (50)',
    );
    const memoryOnly = f.openNow({ maxEntryBytes: 10 });
    expect((await refused(() => memoryOnly.set('big', 'x'.repeat(20)))).message).toContain(
      'over maxEntryBytes (10), and there is no Redis to hold it',
    );
    // getOrSet does not lose the factory's result: it returns it, uncached.
    expect(await memoryOnly.getOrSet('big', () => 'y'.repeat(20))).toBe('y'.repeat(20));
    expect(memoryOnly.getStats().factory.not_cached).toBe(1);
    expect(await memoryOnly.get('big')).toBeUndefined();
  });

  it('rejects every call after close()', async () => {
    const cache = f.openNow();
    await cache.close();
    await expect(cache.get('k')).rejects.toBeInstanceOf(CacheClosedError);
    await expect(cache.set('k', 1)).rejects.toMatchObject({ code: 'PERF_CACHE_CLOSED' });
  });
});

describe('serialisation helpers', () => {
  it('sorts object keys at every level for stable argument keys', () => {
    expect(stableStringify([{ b: 1, a: { d: 2, c: 3 } }])).toBe('[{"a":{"c":3,"d":2},"b":1}]');
    expect(() => stableStringify([() => 1], 'arguments')).toThrow(
      /^arguments: contains a function at \$\[0\]/,
    );
  });

  it('encodes entries with tag versions and rejects text that is not an entry', () => {
    // The write script prepends the format and the end of freshness on Redis's clock.
    const text = `1 1700000000123${encodeEnvelopeTail(500, 7, ['a b', 'c'], [3, 4], '{"v":1}\nwith newline')}`;
    expect(decodeEnvelope(text)).toEqual({
      freshUntilMs: 1700000000123,
      graceMs: 500,
      globalVersion: 7,
      tags: ['a b', 'c'],
      versions: [3, 4],
      payload: '{"v":1}\nwith newline',
      absent: false,
    });
    // A version of a tag invalidated while Redis was away is negative.
    expect(decodeEnvelope(`1 5${encodeEnvelopeTail(0, 0, ['t'], [-3], '1')}`)).toMatchObject({
      tags: ['t'],
      versions: [-3],
      payload: '1',
    });
    expect(decodeEnvelope('a 1 0 0 0\nnull')).toMatchObject({ absent: true, payload: 'null' });
    expect(decodeEnvelope('a 1 0 0 0\nundefined')).toMatchObject({ absent: true, payload: 'undefined' });
    for (const bad of [
      '',
      'plain text',
      '2 1 0 0 0\n{}',
      'a 1 0 0 0\n{}',
      '1 1 x 0 0\n{}',
      '1 1 0 0 2\n3 a\n',
      '1 0 0 0\n{}',
      '1  0 0 0\n{}',
      '1 1 0 0 1\n3a\n{}',
      '1 1 0 0 -1\n{}',
      '1 1.5 0 0 0\n{}',
      '1 1 0 0 0',
    ]) {
      expect(decodeEnvelope(bad)).toBeUndefined();
    }
  });
});
