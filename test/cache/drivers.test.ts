/**
 * The drivers against their contracts (memory, Redis, and the chaos driver passing through), and
 * the chaos driver's own faults.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MemoryDriver } from '../../src/cache/drivers/memory.ts';
import { type RedisDriver, RedisNotReadyError } from '../../src/cache/drivers/redis.ts';
import { ChaosDriver } from '../helpers/cache-chaos.ts';
import {
  memoryKeyValue,
  openTestRedisDriver,
  redisKeyValue,
  registerKeyValueContract,
  registerL2Contract,
} from '../helpers/cache-driver-suite.ts';

registerKeyValueContract('memory driver', async () =>
  memoryKeyValue(new MemoryDriver({ maxItems: 1000, maxBytes: 1024 * 1024, maxEntryBytes: 64 * 1024 })),
);
registerKeyValueContract('Redis driver', async () => {
  const { driver, cleanup } = await openTestRedisDriver();
  return redisKeyValue(driver, cleanup);
});
registerKeyValueContract('chaos driver, passing through', async () => {
  const { driver, cleanup } = await openTestRedisDriver();
  return redisKeyValue(new ChaosDriver(driver), cleanup);
});

registerL2Contract('Redis driver', openTestRedisDriver);
registerL2Contract('chaos driver, passing through', async () => {
  const opened = await openTestRedisDriver();
  return { ...opened, driver: new ChaosDriver(opened.driver) };
});

describe('memory driver beyond the contract', () => {
  it('keeps nothing larger than maxEntryBytes, and evicts by count and bytes', () => {
    const driver = new MemoryDriver({ maxItems: 2, maxBytes: 100, maxEntryBytes: 60 });
    const entry = (bytes: number) => ({
      value: 'v',
      freshUntil: 0,
      staleUntil: 0,
      globalVersion: 0,
      tags: [],
      versions: [],
      bytes,
      retryAt: 0,
    });
    expect(driver.accepts(61)).toBe(false);
    expect(driver.set('big', entry(61))).toBe(false);
    expect(driver.get('big')).toBeUndefined();
    expect(driver.set('a', entry(50))).toBe(true);
    expect(driver.set('b', entry(50))).toBe(true);
    expect(driver.set('c', entry(10))).toBe(true);
    expect([driver.items, driver.bytes, driver.evictions]).toEqual([2, 60, 1]);
    expect(driver.get('a')).toBeUndefined();
  });

  it('sizes a value by its UTF-8 bytes whenever it could be kept, and refuses one with too many characters', () => {
    const driver = new MemoryDriver({ maxItems: 10, maxBytes: 1000, maxEntryBytes: 10 });
    // Five characters, ten bytes: the size is the bytes, not the characters.
    expect(driver.sizeOf('ééééé')).toBe(10);
    expect(driver.accepts(driver.sizeOf('éééééx'))).toBe(false);
    expect(driver.accepts(driver.sizeOf('x'.repeat(10)))).toBe(true);
    // Over ten characters is over ten bytes: refused without being measured.
    expect(driver.accepts(driver.sizeOf('x'.repeat(11)))).toBe(false);
  });
});

describe('chaos driver faults', () => {
  let driver: RedisDriver;
  let c: ChaosDriver;
  let cleanup: () => Promise<void>;
  beforeEach(async () => {
    ({ driver, cleanup } = await openTestRedisDriver());
    c = new ChaosDriver(driver);
  });
  afterEach(async () => {
    await driver.close();
    await cleanup();
  });

  it('fails the next call of one operation only, without reaching Redis', async () => {
    c.failNext('versions', new Error('injected'));
    await expect(c.versions(['t'])).rejects.toThrow('injected');
    expect(await c.read('k', [])).toMatchObject({ text: undefined });
    expect(await c.versions(['t'])).toEqual([0]);
    expect(c.sent).toEqual(['read', 'versions']);
  });

  it('holds a request until released (nothing sent), and a reply after it was sent', async () => {
    const request = c.holdNext('invalidate', 'request');
    let invalidated = false;
    const invalidating = c.invalidate(['t'], 'me', 60_000).then(() => {
      invalidated = true;
    });
    await request.reached;
    expect(c.sent).toEqual([]);
    expect(await driver.versions(['t'])).toEqual([0]);
    expect(invalidated).toBe(false);
    request.release();
    await invalidating;
    const [version = 0] = await driver.versions(['t']);
    expect(version).toBeGreaterThan(0);

    const reply = c.holdNext('invalidate');
    const second = c.invalidate(['t'], 'me', 60_000);
    await reply.reached;
    // Sent and applied: Redis has the new version while the caller still waits for the reply.
    const [applied = 0] = await driver.versions(['t']);
    expect(applied).toBeGreaterThan(version);
    reply.release();
    expect(await second).toEqual([applied]);
    expect(c.sent).toEqual(['invalidate', 'invalidate']);
  });

  it('delays a call and then passes it through', async () => {
    c.delayNext('ping', 20);
    await c.ping();
    expect(c.sent).toEqual(['ping']);
  });

  it('reports itself disconnected, refuses calls as the real driver does, and tells listeners when back', async () => {
    let ready = 0;
    c.onReady(() => ready++);
    c.disconnect();
    expect(c.connected).toBe(false);
    await expect(c.read('k', [])).rejects.toBeInstanceOf(RedisNotReadyError);
    expect(c.sent).toEqual([]);
    c.reconnect();
    expect(c.connected).toBe(true);
    expect(ready).toBe(1);
    expect(await c.read('k', [])).toMatchObject({ text: undefined });
  });
});
