/**
 * One process of the distributed stampede benchmark (bench/cache-lock.bench.ts): builds one cache
 * (`perf-sidecar` with `lockTimeoutMs`, `bentocache` or `cache-manager`, each with Redis as its
 * second level), prints `ready`, waits for `go` on stdin, runs CALLERS concurrent getOrSet on KEY
 * whose factory counts its runs in Redis (`INCR COUNTER`, shared by every process) and takes
 * WORK_MS, prints one JSON line and exits.
 */
import { createInterface } from 'node:readline';
import { CacheableMemory } from '@cacheable/memory';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { createCache } from '../src/cache/index.ts';
import { setLogLevel } from '../src/shared/logger.ts';

const env = (name: string) => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};
const url = env('URL');
const prefix = env('PREFIX');
const library = env('LIBRARY');
const key = env('KEY');
const counter = env('COUNTER');
const callers = Number(env('CALLERS'));
const workMs = Number(env('WORK_MS'));

setLogLevel('error');
const raw = new Redis(url);
const factory = async () => {
  await raw.incr(counter);
  // The factory's own work (a slow query): long enough for every caller of every process to arrive.
  await new Promise((resolve) => setTimeout(resolve, workMs));
  return 'x'.repeat(100);
};

type GetOrSet = (k: string) => Promise<unknown>;
let getOrSet: GetOrSet;
let close: () => Promise<unknown>;
if (library === 'perf-sidecar') {
  const cache = createCache({
    redis: url,
    prefix: `${prefix}ps:`,
    name: 'bench-lock',
    lockTimeoutMs: 10_000,
  });
  if (!(await cache.ready())) throw new Error(`Redis at ${url} does not answer`);
  getOrSet = (k) => cache.getOrSet(k, factory, { ttlSeconds: 60 });
  close = () => cache.close();
} else if (library === 'bentocache') {
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port || 6379) };
  const bento = new BentoCache({
    default: 'multi',
    prefix: `${prefix}bento`,
    stores: {
      multi: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000 }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  });
  getOrSet = (k) => bento.getOrSet({ key: k, factory, ttl: '1m' });
  close = () => bento.disconnectAll();
} else {
  const manager = createCacheManager({
    stores: [
      new Keyv({ store: new CacheableMemory({ lruSize: 10_000 }) }),
      new Keyv({ store: new KeyvRedis(url), namespace: `${prefix}cm` }),
    ],
  });
  getOrSet = (k) => manager.wrap(k, factory, 60_000);
  close = () => manager.disconnect();
}

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
for await (const line of lines) {
  if (line !== 'go') continue;
  const started = performance.now();
  const results = await Promise.allSettled(Array.from({ length: callers }, () => getOrSet(key)));
  const ms = performance.now() - started;
  const failed = results.filter((r) => r.status === 'rejected').length;
  process.stdout.write(`${JSON.stringify({ ms, failed })}\n`);
  break;
}
lines.close();
await close();
raw.disconnect();
process.exit(0);
