/**
 * The cache on a Redis Cluster against a single Redis (`npm run bench -- cache-cluster`, or
 * `node bench/cache-cluster.bench.ts`): an L2 hit `get` (`maxEntryBytes: 0`, so every get is one
 * MGET in Redis) and a 100-key `getMany` (one pipeline), on BENCH_REDIS_URL and on a three-master
 * cluster started on loopback by the test helper (same machine). On a cluster the cache's keys all
 * live in its prefix's slot: the round trip is the same single MGET, sent by ioredis's `Cluster`,
 * which first looks up the slot's node; the ratio is that client-side cost.
 */
import { randomUUID } from 'node:crypto';
import { type Cache, createCache } from '../src/cache/index.ts';
import { setLogLevel } from '../src/shared/logger.ts';
import { OwnRedisCluster } from '../test/helpers/redis-cluster.ts';
import { compare } from './lib.ts';
import { deleteKeys, redisAnswers } from './redis.ts';

const KEYS = Array.from({ length: 100 }, (_, i) => `item:${i}`);

/** A cache whose reads all go to Redis, with the keys written. */
async function opened(redis: string, redisCluster: boolean, prefix: string): Promise<Cache> {
  const cache = createCache({ redis, redisCluster, prefix, maxEntryBytes: 0, name: `bench-${redisCluster}` });
  if (!(await cache.ready()))
    throw new Error(`the bench cache did not connect to ${redisCluster ? 'the cluster' : redis}`);
  await cache.setMany(
    KEYS.map((k, i) => [k, { id: i, name: `item ${i}` }]),
    { ttlSeconds: 3600 },
  );
  return cache;
}

/** Runs the group; skipped when BENCH_REDIS_URL does not answer. */
export async function benchCacheCluster(url: string): Promise<void> {
  if (!(await redisAnswers(url))) {
    console.log(`\ncache-cluster: skipped (no Redis at ${url})`);
    return;
  }
  setLogLevel('error');
  const prefix = `{perf-bench-cluster-${randomUUID().slice(0, 8)}}:`;
  const cluster = await OwnRedisCluster.start();
  const caches: Cache[] = [];
  try {
    const single = await opened(url, false, prefix);
    caches.push(single);
    const seed = `redis://127.0.0.1:${cluster.nodes[0]?.port}`;
    const clustered = await opened(seed, true, prefix);
    caches.push(clustered);
    const key = 'item:7';
    const [one, onCluster] = await compare(
      'cache-cluster: L2 hit get (maxEntryBytes: 0), one MGET',
      [
        { name: 'single Redis', run: () => single.get(key) },
        { name: 'Redis Cluster (3 masters)', run: () => clustered.get(key) },
      ],
      { batch: 200, rounds: 5, timeMs: 400 },
    );
    const [many, manyOnCluster] = await compare(
      'cache-cluster: getMany of 100 keys (one pipeline)',
      [
        { name: 'single Redis', run: () => single.getMany(KEYS) },
        { name: 'Redis Cluster (3 masters)', run: () => clustered.getMany(KEYS) },
      ],
      { batch: 10, rounds: 5, timeMs: 400 },
    );
    const ratio = (a?: { nsPerOp: number }, b?: { nsPerOp: number }) =>
      a && b ? (b.nsPerOp / a.nsPerOp).toFixed(2) : '?';
    console.log(
      `cache-cluster: cluster / single time per call: get ${ratio(one, onCluster)}×, getMany(100) ${ratio(many, manyOnCluster)}×`,
    );
  } finally {
    await Promise.all(caches.map((c) => c.close()));
    await cluster.stop();
    await deleteKeys(url, prefix);
  }
}

if (import.meta.main) await benchCacheCluster(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
