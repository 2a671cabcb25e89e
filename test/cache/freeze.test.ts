/**
 * What the `freeze` option promises: which values handed out are deep-frozen, that a value kept in
 * memory is frozen whatever the option, and that a caller's change never reaches another caller.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CACHE_DEFAULTS, type CacheSerializer, jsonSerializer } from '../../src/cache/index.ts';
import { decodeValue } from '../../src/cache/serializer.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { CacheFixture } from '../helpers/cache.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

interface Order {
  id: number;
  lines: { sku: string; tags: string[] }[];
  meta: { source: { name: string } };
}

const ORDER: Order = {
  id: 7,
  lines: [
    { sku: 'a', tags: ['x'] },
    { sku: 'b', tags: [] },
  ],
  meta: { source: { name: 'web' } },
};

/** Whether `value` and every object and array inside it are frozen. */
function frozenThroughout(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(frozenThroughout);
}

/** Whether nothing in `value` is frozen. */
function frozenNowhere(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return !Object.isFrozen(value) && Object.values(value).every(frozenNowhere);
}

describe("freeze: 'all' (the default)", () => {
  it('is the default', () => {
    expect(CACHE_DEFAULTS.freeze).toBe('all');
  });

  it('deep-freezes a value read from Redis that memory does not keep, at every level', async () => {
    // maxEntryBytes 0: memory keeps nothing, every get is a Redis read handing out a new copy.
    const cache = await f.open({ maxEntryBytes: 0 });
    await cache.set('order', ORDER);
    const got = await cache.get<Order>('order');
    expect(got).toEqual(ORDER);
    expect(frozenThroughout(got)).toBe(true);
    expect(() => {
      (got as Order).lines[0]?.tags.push('y');
    }).toThrow(TypeError);
    const many = await cache.getMany<Order>(['order']);
    expect(frozenThroughout(many.get('order'))).toBe(true);
    expect(cache.getStats().memory_cache.items).toBe(0);
  });
});

describe("freeze: 'shared'", () => {
  it('gives get and getMany their own unfrozen copy when memory does not keep it, whose changes reach no one', async () => {
    const cache = await f.open({ maxEntryBytes: 0, freeze: 'shared' });
    await cache.set('order', ORDER);
    const first = await cache.get<Order>('order');
    expect(first).toEqual(ORDER);
    expect(frozenNowhere(first)).toBe(true);
    (first as Order).lines[0]?.tags.push('changed');
    (first as Order).meta.source.name = 'changed';
    const second = await cache.get<Order>('order');
    expect(second).not.toBe(first);
    expect(second).toEqual(ORDER);
    const many = await cache.getMany<Order>(['order']);
    expect(many.get('order')).toEqual(ORDER);
    expect(frozenNowhere(many.get('order'))).toBe(true);
    expect(cache.getStats().redis_cache.hits).toBe(3);
  });

  it('still freezes what memory keeps, whether set here or read from Redis, once for every hit', async () => {
    const writer = await f.open({ freeze: 'shared' });
    const reader = await f.open({ freeze: 'shared' });
    await writer.set('order', ORDER);
    const written = await writer.get<Order>('order');
    expect(frozenThroughout(written)).toBe(true);
    // The set's bus message must not evict the reader's copy between its two reads.
    await waitFor(() => reader.getStats().redis_cache.bus_messages === 1, { what: 'the set message' });
    // The reader's copy comes from Redis and is kept in its memory: shared by its later hits.
    const fromRedis = await reader.get<Order>('order');
    const fromMemory = await reader.get<Order>('order');
    expect(reader.getStats().memory_cache).toMatchObject({ hits: 1, items: 1 });
    expect(fromMemory).toBe(fromRedis);
    expect(frozenThroughout(fromRedis)).toBe(true);
  });

  it('freezes a Redis read that getOrSet hands to every waiting caller, even when memory does not keep it', async () => {
    const writer = await f.open({ maxEntryBytes: 0 });
    const reader = await f.open({ maxEntryBytes: 0, freeze: 'shared' });
    await writer.set('order', ORDER);
    let runs = 0;
    const factory = () => {
      runs++;
      return ORDER;
    };
    // Called in the same turn, the second joins the first's flight and gets the same value.
    const [a, b] = await Promise.all([reader.getOrSet('order', factory), reader.getOrSet('order', factory)]);
    expect(runs).toBe(0);
    expect(a).toBe(b);
    expect(frozenThroughout(a)).toBe(true);
  });

  it('is refused unless one of its two values', async () => {
    const error = await rejectionOf(
      (async () => f.openNow({ freeze: 'none' as never }))(),
      InvalidArgumentError,
    );
    expect(error.message).toBe('options.freeze: is "none"; expected one of all, shared');
  });
});

describe('decodeValue', () => {
  it('freezes every level without touching what Object.prototype inherits, even when made enumerable', () => {
    const inherited = { touched: false };
    let value: unknown;
    // Nothing else may run while Object.prototype is changed: the checks come after it is restored.
    Object.defineProperty(Object.prototype, 'polluted', {
      value: inherited,
      enumerable: true,
      configurable: true,
      writable: true,
    });
    try {
      value = decodeValue(jsonSerializer, '{"a":{"b":[{"c":1}]},"d":[[2]]}', true);
    } finally {
      delete (Object.prototype as { polluted?: unknown }).polluted;
    }
    expect(value).toEqual({ a: { b: [{ c: 1 }] }, d: [[2]] });
    expect(frozenThroughout(value)).toBe(true);
    expect(Object.isFrozen(inherited)).toBe(false);
  });

  it("freezes a custom serializer's value once, shared parts and cycles included", () => {
    const shared = { n: 1 };
    const looped: Record<string, unknown> = { list: [shared, shared] };
    looped.self = looped;
    const custom: CacheSerializer = { name: 'custom', serialize: () => '', deserialize: () => looped };
    expect(decodeValue(custom, '', true)).toBe(looped);
    expect(Object.isFrozen(looped) && Object.isFrozen(looped.list) && Object.isFrozen(shared)).toBe(true);
    expect(frozenNowhere(decodeValue(jsonSerializer, '{"a":[1]}', false))).toBe(true);
  });
});

describe('the memory hit path', () => {
  it('answers a hit with a promise already resolved: no turn of the microtask queue before it', async () => {
    const cache = await f.open();
    await cache.set('k', 'v');
    await cache.getOrSet('g', () => 'w');
    const order: string[] = [];
    const hits = [
      cache.get('k').then(() => order.push('get')),
      cache.getOrSet('g', () => 'never').then(() => order.push('getOrSet')),
    ];
    // Queued after the hits' callbacks: it runs after them only if neither waited a turn.
    const tick = Promise.resolve().then(() => order.push('tick'));
    await Promise.all([...hits, tick]);
    expect(order).toEqual(['get', 'getOrSet', 'tick']);
  });

  it('rejects, never throws, for a bad key, a bad factory or a closed cache', async () => {
    const cache = f.openNow();
    // A throw here would fail the test before `rejects` is reached.
    await expect(cache.get('')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(cache.getOrSet('k', 42 as never)).rejects.toBeInstanceOf(InvalidArgumentError);
    await cache.close();
    await expect(cache.getOrSet('k', () => 1)).rejects.toMatchObject({ code: 'PERF_CACHE_CLOSED' });
  });
});
