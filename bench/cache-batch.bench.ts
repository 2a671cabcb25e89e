/**
 * Batch lookups of 100 keys (`npm run bench -- cache-batch`), cold and warm, on the same Redis:
 *
 * - perf-sidecar `getOrSetMany` (one pipelined read, one factory call, one pipelined write) against
 *   100 `getOrSet` calls in `Promise.all`;
 * - BentoCache 1.6.1, which has no batch get or set (its d.ts has only `deleteMany`): 100
 *   `getOrSet` calls in `Promise.all`;
 * - cache-manager 7.2.9: `mget`, then one `mset` of the missing keys (its best equivalent).
 *
 * Cold: every sample uses 100 keys never seen (memory and Redis miss, factory, write). Warm: the
 * same 100 keys every time (memory hits). Each row is one batch of 100 keys; ratios are against
 * `getOrSetMany`.
 */
import { randomUUID } from 'node:crypto';
import { CacheableMemory } from '@cacheable/memory';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Keyv } from 'keyv';
import { createCache } from '../src/cache/index.ts';
import { setLogLevel } from '../src/shared/logger.ts';
import { compare } from './lib.ts';
import { deleteKeys } from './redis.ts';

const KEYS = 100;
const value = (key: string) => ({ id: key, name: `item ${key}`, price: 1.5, tags: ['a', 'b'] });

/** Runs the batch benchmark against the Redis at `url`. */
export async function benchCacheBatch(url: string): Promise<void> {
  setLogLevel('error');
  const prefix = `perf-bench-batch:${randomUUID()}:`;
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port || 6379) };
  const ours = createCache({ redis: url, prefix: `${prefix}ps:`, name: 'bench-batch' });
  const bento = new BentoCache({
    default: 'multi',
    prefix: `${prefix}bento`,
    stores: {
      multi: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 100_000, maxSize: 256 * 1024 * 1024 }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  });
  const manager = createCacheManager({
    stores: [
      new Keyv({ store: new CacheableMemory({ lruSize: 100_000 }) }),
      new Keyv({ store: new KeyvRedis(url), namespace: `${prefix}cm` }),
    ],
  });
  try {
    if (!(await ours.ready())) throw new Error(`Redis at ${url} does not answer`);
    let batch = 0;
    /** 100 keys: fresh ones for every cold sample, always the same ones when warm. */
    const keysOf = (cold: boolean) => {
      const id = cold ? `cold:${batch++}` : 'warm';
      return Array.from({ length: KEYS }, (_, i) => `${id}:${i}`);
    };
    const many = (keys: readonly string[]) => new Map(keys.map((k) => [k, value(k)]));
    for (const cold of [true, false]) {
      await compare(
        `${KEYS} keys per batch, ${cold ? 'cold (memory and Redis miss, factory, write)' : 'warm (memory hits)'}`,
        [
          {
            name: 'perf-sidecar getOrSetMany',
            run: () => ours.getOrSetMany(keysOf(cold), many, { ttlSeconds: 600 }),
          },
          {
            name: `perf-sidecar ${KEYS} × getOrSet (Promise.all)`,
            run: () =>
              Promise.all(keysOf(cold).map((k) => ours.getOrSet(k, () => value(k), { ttlSeconds: 600 }))),
          },
          {
            name: `bentocache ${KEYS} × getOrSet (Promise.all; no getMany in 1.6.1)`,
            run: () =>
              Promise.all(
                keysOf(cold).map((k) => bento.getOrSet({ key: k, factory: () => value(k), ttl: '10m' })),
              ),
          },
          {
            name: 'cache-manager mget + mset of the missing',
            run: async () => {
              const keys = keysOf(cold);
              const found = await manager.mget<ReturnType<typeof value>>(keys);
              const missing = keys.filter((_, i) => found[i] === undefined);
              if (missing.length > 0) {
                await manager.mset(missing.map((key) => ({ key, value: value(key), ttl: 600_000 })));
              }
            },
          },
        ],
        // One operation is one batch of 100 keys; keep samples short for the slow cold cases.
        { batch: 1, timeMs: 400, rounds: 5 },
      );
    }
  } finally {
    await ours.close();
    await bento.disconnectAll();
    await manager.disconnect();
    await deleteKeys(url, prefix);
  }
}

if (import.meta.main) await benchCacheBatch(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
