/**
 * The cache's driver contracts, as suites any driver can be run against (in the manner of
 * BentoCache's driver_test_suite.ts): a function that takes a driver factory and registers `it`
 * cases.
 *
 * - {@link registerKeyValueContract}: the minimal key-value contract both levels honour (store,
 *   read, delete, clear, expiry). L1 and L2 have no common surface (memory holds decoded entries
 *   and is cleared outright; Redis holds envelopes, and a clear is a new version of the prefix), so
 *   each is put behind the contract by a thin adapter that uses only the driver's own calls:
 *   {@link memoryKeyValue} and {@link redisKeyValue}. Neither driver is changed to fit it.
 * - {@link registerL2Contract}: what the cache relies on from any `L2Driver` (Redis, or a wrapper
 *   such as the chaos driver): versions, invalidation, the bus messages, chunked deletes, clocks.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeKeysMessage, encodeReleaseMessage, parseBusMessage } from '../../src/cache/bus/messages.ts';
import type { L2Driver } from '../../src/cache/drivers/l2.ts';
import type { MemoryDriver } from '../../src/cache/drivers/memory.ts';
import { RedisDriver } from '../../src/cache/drivers/redis.ts';
import { decodeEnvelope, ENVELOPE_FORMAT, encodeEnvelopeTail } from '../../src/cache/envelope.ts';
import { CacheTelemetry } from '../../src/cache/telemetry.ts';
import { getLogger } from '../../src/shared/logger.ts';
import { TEST_REDIS_URL } from './env.ts';
import { waitFor } from './wait.ts';

/** The contract: text values under string keys, each with a lifetime. */
export interface KeyValueStore {
  /** Stores `text` under `key` for `ttlMs`. */
  store(key: string, text: string, ttlMs: number): Promise<void>;
  /** The text under `key`, or `undefined` (never stored, deleted, cleared or expired). */
  read(key: string): Promise<string | undefined>;
  /** Removes one key. */
  delete(key: string): Promise<void>;
  /** Removes every key of this store. */
  clear(): Promise<void>;
  /** Releases what the store holds (connections, test keys). */
  close(): Promise<void>;
}

/** Memory (L1) behind the contract: entries with their lifetime, judged on read as the cache does. */
export function memoryKeyValue(driver: MemoryDriver): KeyValueStore {
  return {
    async store(key, text, ttlMs) {
      const until = performance.now() + ttlMs;
      const entry = { value: text, freshUntil: until, staleUntil: until, globalVersion: 0, retryAt: 0 };
      driver.set(key, { ...entry, tags: [], versions: [], bytes: Buffer.byteLength(text) });
    },
    async read(key) {
      const entry = driver.get(key);
      return entry !== undefined && performance.now() < entry.staleUntil
        ? (entry.value as string)
        : undefined;
    },
    async delete(key) {
      driver.delete(key);
    },
    async clear() {
      driver.clear();
    },
    async close() {},
  };
}

/**
 * An L2 driver behind the contract: envelopes stamped with the prefix version, expired by Redis
 * itself; a clear is a new prefix version, after which older envelopes do not count. `cleanup`
 * deletes the test's keys when the store is closed.
 */
export function redisKeyValue(driver: L2Driver, cleanup: () => Promise<void>): KeyValueStore {
  const sender = 'contract';
  return {
    async store(key, text, ttlMs) {
      const [global = 0] = await driver.versions(['']);
      const tail = encodeEnvelopeTail(0, global, [], [], text);
      await driver.write(key, ENVELOPE_FORMAT, tail, ttlMs, 0, encodeKeysMessage(sender, [key]));
    },
    async read(key) {
      const read = await driver.read(key, []);
      const envelope = read.text === undefined ? undefined : decodeEnvelope(read.text);
      return envelope?.globalVersion === read.globalVersion ? envelope.payload : undefined;
    },
    async delete(key) {
      await driver.deleteKeys([key], (chunk) => encodeKeysMessage(sender, chunk));
    },
    async clear() {
      await driver.invalidate([''], sender, 60_000);
    },
    async close() {
      await driver.close();
      await cleanup();
    },
  };
}

/** Registers the key-value contract's cases against stores made by `open` (one per case). */
export function registerKeyValueContract(name: string, open: () => Promise<KeyValueStore>): void {
  describe(`${name}: the key-value contract`, () => {
    let store: KeyValueStore;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it('reads nothing under a key never stored', async () => {
      expect(await store.read('never')).toBeUndefined();
    });

    it('reads back exactly what it stored', async () => {
      const texts = ['plain', '', '{"a":[1,2]}', 'line\nbreak and é ✓ 🙂', 'x'.repeat(10_000)];
      for (const [i, text] of texts.entries()) await store.store(`k${i}`, text, 60_000);
      for (const [i, text] of texts.entries()) expect(await store.read(`k${i}`)).toBe(text);
    });

    it('replaces a stored value and keeps keys apart', async () => {
      await store.store('a', 'first', 60_000);
      await store.store('b', 'other', 60_000);
      await store.store('a', 'second', 60_000);
      expect(await store.read('a')).toBe('second');
      expect(await store.read('b')).toBe('other');
    });

    it('deletes one key and leaves the others; deleting an absent key is no error', async () => {
      await store.store('a', '1', 60_000);
      await store.store('b', '2', 60_000);
      await store.delete('a');
      await store.delete('never');
      expect(await store.read('a')).toBeUndefined();
      expect(await store.read('b')).toBe('2');
    });

    it('clears every key, and stores again after a clear', async () => {
      await store.store('a', '1', 60_000);
      await store.store('b', '2', 60_000);
      await store.clear();
      expect([await store.read('a'), await store.read('b')]).toEqual([undefined, undefined]);
      await store.store('a', 'after', 60_000);
      expect(await store.read('a')).toBe('after');
    });

    it('forgets a value once its lifetime has passed, and only that one', async () => {
      await store.store('short', 'soon gone', 50);
      await store.store('long', 'stays', 60_000);
      await waitFor(async () => (await store.read('short')) === undefined, {
        what: 'the short-lived value to expire',
      });
      expect(await store.read('long')).toBe('stays');
    });
  });
}

/** The server's clock, ms, as the driver's scripts read it. */
async function serverMs(client: Redis): Promise<number> {
  const [seconds, micros] = await client.time();
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** A driver of the cache's own on the test Redis under a fresh prefix; `cleanup` deletes its keys. */
export async function openTestRedisDriver(): Promise<{
  driver: RedisDriver;
  prefix: string;
  cleanup: () => Promise<void>;
}> {
  const prefix = `perf-test:${randomUUID()}:`;
  const telemetry = new CacheTelemetry('contract', undefined, () => ({
    memory: { hits: 0, misses: 0, stale: 0 },
    redis: { hits: 0, misses: 0, stale: 0 },
    evictions: 0,
    items: 0,
    bytes: 0,
    breakerOpen: false,
  }));
  const client = new Redis(TEST_REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  client.on('error', () => undefined);
  const driver = new RedisDriver({
    client,
    ownsClient: true,
    prefix,
    commandTimeoutMs: 5000,
    telemetry,
    logger: getLogger(),
  });
  if (!(await driver.waitReady(5000))) throw new Error('the test Redis did not answer');
  const cleanup = async () => {
    telemetry.close();
    const admin = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    try {
      const keys = await admin.keys(`${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    } finally {
      admin.disconnect();
    }
  };
  return { driver, prefix, cleanup };
}

/** Registers the L2 driver's own cases against drivers made by `open` (one per case, on `prefix`). */
export function registerL2Contract(
  name: string,
  open: () => Promise<{ driver: L2Driver; prefix: string; cleanup: () => Promise<void> }>,
): void {
  describe(`${name}: the L2 driver contract`, () => {
    let driver: L2Driver;
    let prefix: string;
    let cleanup: () => Promise<void>;
    let listener: Redis;
    beforeEach(async () => {
      ({ driver, prefix, cleanup } = await open());
      listener = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: 1 });
    });
    afterEach(async () => {
      listener.disconnect();
      await driver.close();
      await cleanup();
    });

    /** Messages published on the driver's channel from now on. */
    async function listen(): Promise<string[]> {
      const messages: string[] = [];
      listener.on('message', (channel: string, text: string) => {
        if (channel === driver.channel) messages.push(text);
      });
      await listener.subscribe(driver.channel);
      return messages;
    }

    it('is connected, answers a probe, and names its channel after the prefix', async () => {
      expect(driver.connected).toBe(true);
      await driver.ping();
      expect(driver.channel).toBe(`${prefix}bus`);
    });

    it('measures the server clock, and a write stamps freshness on it', async () => {
      expect(driver.clockStale).toBe(true);
      await driver.syncClock();
      expect(driver.clockStale).toBe(false);
      expect(driver.serverNow()).toBeGreaterThan(0);
      const before = await serverMs(listener);
      await driver.write('k', ENVELOPE_FORMAT, encodeEnvelopeTail(0, 0, [], [], '"v"'), 60_000, 0, '{}');
      const after = await serverMs(listener);
      const envelope = decodeEnvelope((await driver.read('k', [])).text ?? '');
      expect(envelope?.freshUntilMs).toBeGreaterThanOrEqual(before + 60_000);
      expect(envelope?.freshUntilMs).toBeLessThanOrEqual(after + 60_000);
      expect(envelope?.payload).toBe('"v"');
    });

    it('gives tags ever-growing versions and reads them with a value, in the order asked', async () => {
      expect(await driver.versions(['a', 'b', ''])).toEqual([0, 0, 0]);
      const [a1 = 0, g1 = 0] = await driver.invalidate(['a', ''], 'me', 60_000);
      const [a2 = 0] = await driver.invalidate(['a'], 'me', 60_000);
      expect(a2).toBeGreaterThan(a1);
      const read = await driver.read('absent', ['b', 'a']);
      expect(read).toEqual({ text: undefined, globalVersion: g1, requestedVersions: [0, a2] });
    });

    it('announces writes, deletes and invalidations on its channel, atomically with them', async () => {
      const messages = await listen();
      await driver.write('k', ENVELOPE_FORMAT, encodeEnvelopeTail(0, 0, [], [], '1'), 60_000, 0, 'written');
      await driver.deleteKeys(['k'], (chunk) => encodeKeysMessage('me', chunk));
      const [version] = await driver.invalidate(['t'], 'me', 60_000);
      await waitFor(() => messages.length === 3, { what: 'three bus messages' });
      expect(messages[0]).toBe('written');
      expect(parseBusMessage(messages[1] ?? '')).toEqual({ sender: 'me', keys: ['k'], tags: [] });
      expect(parseBusMessage(messages[2] ?? '')).toEqual({ sender: 'me', keys: [], tags: [['t', version]] });
    });

    it('takes a lock once until it is released by its token or expires, announcing the release', async () => {
      const messages = await listen();
      expect(await driver.acquireLock('k', 'one', 60_000)).toBe(0);
      const left = await driver.acquireLock('k', 'two', 60_000);
      expect(left).toBeGreaterThan(0);
      expect(left).toBeLessThanOrEqual(60_000);
      // Compare-and-delete: another token releases nothing, and says nothing.
      expect(await driver.releaseLock('k', 'two', 'not sent')).toBe(false);
      expect(await driver.releaseLock('k', 'one', encodeReleaseMessage('me', 'k'))).toBe(true);
      await waitFor(() => messages.length === 1, { what: 'the release message' });
      expect(parseBusMessage(messages[0] ?? '')).toEqual({
        sender: 'me',
        keys: [],
        tags: [],
        released: ['k'],
      });
      expect(await driver.acquireLock('k', 'two', 1)).toBe(0);
      await waitFor(async () => (await driver.acquireLock('k', 'three', 60_000)) === 0, {
        what: 'the 1 ms lock to expire',
      });
      expect(await driver.releaseLock('k', 'three', '{}')).toBe(true);
    });

    it('deletes more keys than one script call takes, announcing each chunk', async () => {
      const keys = Array.from({ length: 250 }, (_, i) => `many:${i}`);
      for (const key of keys)
        await driver.write(key, ENVELOPE_FORMAT, encodeEnvelopeTail(0, 0, [], [], '1'), 60_000, 0, '{}');
      const messages = await listen();
      const chunks: number[] = [];
      await driver.deleteKeys(keys, (chunk) => {
        chunks.push(chunk.length);
        return encodeKeysMessage('me', chunk);
      });
      expect(chunks).toEqual([100, 100, 50]);
      expect((await driver.read('many:0', [])).text).toBeUndefined();
      expect((await driver.read('many:249', [])).text).toBeUndefined();
      await waitFor(() => messages.length === 3, { what: 'one message per chunk' });
    });

    it('reads many keys in one call, each with its own tags, as single reads would', async () => {
      await driver.write('a', ENVELOPE_FORMAT, encodeEnvelopeTail(0, 0, [], [], '"A"'), 60_000, 0, '{}');
      const [t1 = 0] = await driver.invalidate(['t1'], 'me', 60_000);
      const reads = await driver.readMany(['a', 'absent', 'a'], [['t1'], [], ['t2', 't1']]);
      const singles = [
        await driver.read('a', ['t1']),
        await driver.read('absent', []),
        await driver.read('a', ['t2', 't1']),
      ];
      expect(reads).toEqual(singles);
      expect(reads[2]?.requestedVersions).toEqual([0, t1]);
      expect(await driver.readMany([], [])).toEqual([]);
    });

    it('writes many entries in one call, announcing each bounded chunk atomically with it', async () => {
      const messages = await listen();
      const entries = Array.from({ length: 250 }, (_, i) => ({
        key: `w:${i}`,
        format: ENVELOPE_FORMAT,
        tail: encodeEnvelopeTail(0, 0, [], [], String(i)),
        ttlMs: 60_000,
        graceMs: i === 0 ? 5000 : 0,
      }));
      const chunks: number[] = [];
      await driver.writeMany(entries, (chunk) => {
        chunks.push(chunk.length);
        return encodeKeysMessage('me', chunk);
      });
      expect(chunks).toEqual([100, 100, 50]);
      const reads = await driver.readMany(['w:0', 'w:249'], [[], []]);
      expect(reads.map((r) => decodeEnvelope(r.text ?? '')?.payload)).toEqual(['0', '249']);
      // Each entry's own grace: Redis keeps it ttl + grace.
      expect(await listener.pttl(`${prefix}v:w:0`)).toBeGreaterThan(60_000);
      expect(await listener.pttl(`${prefix}v:w:1`)).toBeLessThanOrEqual(60_000);
      await waitFor(() => messages.length === 3, { what: 'one message per chunk' });
      expect(parseBusMessage(messages[2] ?? '')?.keys).toHaveLength(50);
      // Long keys make smaller chunks: a bus message stays far below maxBusMessageBytes.
      const long = Array.from({ length: 40 }, (_, i) => ({ ...entries[0], key: `${i}:${'k'.repeat(1000)}` }));
      const sizes: number[] = [];
      await driver.writeMany(long as typeof entries, (chunk) => {
        sizes.push(chunk.length);
        return encodeKeysMessage('me', chunk);
      });
      expect(sizes).toEqual([16, 16, 8]);
    });
  });
}
