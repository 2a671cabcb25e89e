/**
 * The cache on a real three-master Redis Cluster: every key of a cache in the slot of its prefix's
 * hash tag, so reads (MGET), scripts, batch pipelines and locks run on that slot's master and the
 * bus (classic pub/sub) reaches instances subscribed on any node. Levels, tags across instances,
 * batches, distributed single flight, the prefix without a hash tag refused, and the slot's master
 * killed mid-test.
 */
import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cache, type CacheOptions, createCache } from '../../src/cache/index.ts';
import { InvalidArgumentError } from '../../src/index.ts';
import { OwnRedisCluster } from '../helpers/redis-cluster.ts';
import { waitFor } from '../helpers/wait.ts';

const silent = pino({ level: 'silent' });

describe('the cache on a Redis Cluster', () => {
  let cluster: OwnRedisCluster;
  let client: Cluster;
  let seedUrl: string;
  const opened: Cache[] = [];

  beforeAll(async () => {
    cluster = await OwnRedisCluster.start();
    client = new Cluster(cluster.startupNodes);
    client.on('error', () => undefined);
    seedUrl = `redis://127.0.0.1:${cluster.nodes[0]?.port}`;
  }, 60_000);

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((cache) => cache.close()));
  });

  afterAll(async () => {
    client?.disconnect();
    await cluster?.stop();
  });

  /** A fresh hash-tagged prefix: each test's keys in a slot of their own. */
  const tagged = () => `{cache-${randomUUID().slice(0, 8)}}:`;

  /** A cache on the cluster (a URL with `redisCluster`, unless `options.redis` says otherwise), connected. */
  async function open(options: CacheOptions): Promise<Cache> {
    const cache = createCache({ redis: seedUrl, redisCluster: true, logger: silent, ...options });
    opened.push(cache);
    expect(await cache.ready()).toBe(true);
    return cache;
  }

  it('keeps every key of a cache in its prefix slot, and a second instance reads from L2', async () => {
    const prefix = tagged();
    const a = await open({ name: 'a', prefix });
    const b = await open({ name: 'b', prefix });
    await a.set('user:1', { name: 'Ada' }, { ttlSeconds: 60, tags: ['users'] });
    expect(await b.get('user:1')).toEqual({ name: 'Ada' });
    expect(b.getStats().redis_cache.hits).toBe(1);
    const slot = await client.cluster('KEYSLOT', `${prefix}v:user:1`);
    expect(await client.cluster('KEYSLOT', `${prefix}g`)).toBe(slot);
    expect(await client.cluster('KEYSLOT', `${prefix}t:users`)).toBe(slot);
  });

  it('accepts a Cluster client as the redis option (the bus on its duplicate)', async () => {
    const prefix = tagged();
    const given = new Cluster(cluster.startupNodes, { enableOfflineQueue: false });
    given.on('error', () => undefined);
    try {
      const a = await open({ name: 'client', prefix, redis: given, redisCluster: false });
      const b = await open({ name: 'url', prefix });
      await b.set('k', 'from b');
      expect(await a.get('k')).toBe('from b');
      await b.set('k', 'again');
      // a kept 'from b' in memory: only b's bus message, on a's duplicated connection, drops it.
      await waitFor(async () => (await a.get('k')) === 'again', { what: "b's write reaching a's bus" });
    } finally {
      await Promise.all(opened.splice(0).map((cache) => cache.close()));
      given.disconnect();
    }
  });

  it('invalidates a tag in another instance through the bus', async () => {
    const prefix = tagged();
    const a = await open({ name: 'a', prefix });
    const b = await open({ name: 'b', prefix });
    await a.set('report', 'old', { ttlSeconds: 60, tags: ['reports'] });
    expect(await b.get('report')).toBe('old');
    const busBefore = b.getStats().redis_cache.bus_messages;
    await a.deleteByTags(['reports']);
    await waitFor(() => b.getStats().redis_cache.bus_messages > busBefore, { what: 'the tag message in b' });
    const hitsBefore = b.getStats().memory_cache.hits;
    expect(await b.get('report')).toBeUndefined();
    expect(b.getStats().memory_cache.hits).toBe(hitsBefore);
  });

  it('runs getMany, setMany and getOrSetMany in the prefix slot', async () => {
    const prefix = tagged();
    const a = await open({ name: 'a', prefix });
    const b = await open({ name: 'b', prefix });
    const keys = Array.from({ length: 150 }, (_, i) => `n:${i}`);
    await a.setMany(
      keys.map((k, i) => [k, i]),
      { ttlSeconds: 60, tags: ['numbers'] },
    );
    const found = await b.getMany(keys);
    expect([...found.values()]).toEqual(keys.map((_, i) => i));
    expect(b.getStats().redis_cache.hits).toBe(150);
    const asked: string[][] = [];
    const got = await b.getOrSetMany(['n:1', 'm:1', 'm:2'], async (missing) => {
      asked.push([...missing]);
      return new Map(missing.map((k) => [k, `made ${k}`]));
    });
    expect(asked).toEqual([['m:1', 'm:2']]);
    expect([...got.values()]).toEqual([1, 'made m:1', 'made m:2']);
    expect(await a.get('m:2')).toBe('made m:2');
  });

  it('runs one factory for concurrent getOrSet in two caches with lockTimeoutMs', async () => {
    const prefix = tagged();
    const a = await open({ name: 'a', prefix, lockTimeoutMs: 10_000 });
    const b = await open({ name: 'b', prefix, lockTimeoutMs: 10_000 });
    let runs = 0;
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const factory = async () => {
      runs++;
      await gate;
      return 'computed';
    };
    const first = a.getOrSet('hot', factory);
    // The first caller holds the lock before the second asks.
    await waitFor(async () => (await client.exists(`${prefix}l:hot`)) === 1, { what: 'the lock taken' });
    const second = b.getOrSet('hot', factory);
    const moreA = Array.from({ length: 10 }, () => a.getOrSet('hot', factory));
    const moreB = Array.from({ length: 10 }, () => b.getOrSet('hot', factory));
    release();
    const results = await Promise.all([first, second, ...moreA, ...moreB]);
    expect(results.every((r) => r === 'computed')).toBe(true);
    expect(runs).toBe(1);
  });

  it('refuses a cluster without a hash tag in the prefix, naming prefix and the accepted form', () => {
    const refusal = (options: CacheOptions) => {
      try {
        createCache({ logger: silent, ...options });
      } catch (error) {
        return error;
      }
      throw new Error('the cache was created');
    };
    const byUrl = refusal({ redis: seedUrl, redisCluster: true, prefix: 'shop:' });
    expect(byUrl).toBeInstanceOf(InvalidArgumentError);
    expect((byUrl as InvalidArgumentError).message).toBe(
      'options.prefix: is "shop:", without a hash tag, on a Redis Cluster; expected a prefix with a hash tag, such as {shop}: (on a Redis Cluster every key of one cache must share one hash slot)',
    );
    // The default prefix has no hash tag either.
    expect((refusal({ redis: client }) as InvalidArgumentError).argument).toBe('options.prefix');
    const single = new Redis({ lazyConnect: true });
    expect((refusal({ redis: single, redisCluster: true, prefix: '{a}:' }) as Error).message).toMatch(
      /^options\.redisCluster: is true with a single-node Redis client/,
    );
    single.disconnect();
  });

  it('goes on from memory when the master owning the prefix slot is killed', async () => {
    // The bus subscription lives on a random node; killing that node is a bus reset (memory rightly
    // forgotten). Pick a prefix whose slot's master does not hold this cache's subscription.
    let cache: Cache | undefined;
    let prefix = '';
    let owner: number | undefined;
    for (let attempt = 0; attempt < 10 && cache === undefined; attempt++) {
      prefix = tagged();
      const candidate = await open({
        name: 'survivor',
        prefix,
        redisCommandTimeoutMs: 200,
        // One failed round trip opens the circuit, whether it timed out or was refused.
        circuitBreakerThreshold: 1,
        circuitBreakerDurationMs: 60_000,
      });
      owner = await ownerPort(client, `${prefix}g`);
      const subscribedOn = await subscriberPorts(cluster, `${prefix}bus`);
      if (subscribedOn.length === 1 && subscribedOn[0] !== owner) cache = candidate;
      else await candidate.close();
    }
    if (cache === undefined || owner === undefined) throw new Error('no prefix with its bus off its master');
    await cache.set('held', 'in memory', { ttlSeconds: 600 });
    expect(await client.exists(`${prefix}v:held`)).toBe(1);
    const node = cluster.nodes.find((n) => n.port === owner);
    node?.process.kill('SIGKILL');
    await waitFor(() => node?.process.exitCode !== null || node?.process.signalCode !== null, {
      what: 'the master gone',
    });
    let runs = 0;
    const value = await cache.getOrSet('fresh', async () => {
      runs++;
      return 'from the factory';
    });
    expect(value).toBe('from the factory');
    expect(runs).toBe(1);
    expect(await cache.get('held')).toBe('in memory');
    const stats = cache.getStats();
    expect(stats.redis_cache.errors + stats.redis_cache.skipped).toBeGreaterThan(0);
    await waitFor(() => cache?.getStats().redis_cache.breaker === 'open', { what: 'the breaker open' });
    // With the breaker open the next calls do not touch Redis: memory answers them.
    expect(await cache.getOrSet('fresh', async () => 'again')).toBe('from the factory');
    expect(await cache.get('held')).toBe('in memory');
  }, 30_000);
});

/** Port of the master that owns the slot of `key` (`CLUSTER KEYSLOT`, then `CLUSTER SLOTS`). */
async function ownerPort(client: Cluster, key: string): Promise<number> {
  const slot = Number(await client.cluster('KEYSLOT', key));
  const ranges = await client.cluster('SLOTS');
  const master = ranges.find(([from, to]) => slot >= from && slot <= to)?.[2];
  if (master === undefined) throw new Error(`no master owns slot ${slot}`);
  return master[1];
}

/** Ports of the nodes with a subscriber on `channel` (`PUBSUB NUMSUB` counts a node's own subscribers). */
async function subscriberPorts(cluster: OwnRedisCluster, channel: string): Promise<number[]> {
  const ports: number[] = [];
  for (const node of cluster.nodes) {
    const direct = new Redis({ port: node.port, lazyConnect: true, maxRetriesPerRequest: 0 });
    try {
      await direct.connect();
      const [, count] = (await direct.pubsub('NUMSUB', channel)) as [string, number];
      if (Number(count) > 0) ports.push(node.port);
    } finally {
      direct.disconnect();
    }
  }
  return ports;
}
