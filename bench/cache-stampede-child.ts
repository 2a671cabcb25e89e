/**
 * One process of the distributed stampede benchmarks (bench/cache-stampede.bench.ts and
 * bench/cache-lock.bench.ts): builds one cache (`perf-sidecar`, with `lockTimeoutMs` when
 * LOCK_TIMEOUT_MS is set and its defaults otherwise; `bentocache` or `cache-manager`, each with Redis
 * as its second level), prints `ready`, then for each `go [key]` line on stdin (KEY when the line
 * names none) runs CALLERS concurrent getOrSet on that key, whose factory counts its runs in Redis
 * (`INCR COUNTER`, shared by every process) and takes WORK_MS, and prints one JSON line:
 * `{ ms, failed, startedAt, finishedAt }` (failed: rejected or a wrong value; the times are epoch ms,
 * comparable across processes). Exits after ROUNDS rounds (default 1) or when stdin closes.
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
const defaultKey = process.env.KEY;
const counter = env('COUNTER');
const callers = Number(env('CALLERS'));
const workMs = Number(env('WORK_MS'));
const rounds = Number(process.env.ROUNDS ?? 1);
const lockTimeoutMs = process.env.LOCK_TIMEOUT_MS ? Number(process.env.LOCK_TIMEOUT_MS) : undefined;
const VALUE = 'x'.repeat(100);

setLogLevel('error');
const raw = new Redis(url);
const factory = async () => {
  await raw.incr(counter);
  // The factory's own work (a slow query): long enough for every caller of every process to arrive.
  await new Promise((resolve) => setTimeout(resolve, workMs));
  return VALUE;
};

type GetOrSet = (k: string) => Promise<unknown>;
let getOrSet: GetOrSet;
let close: () => Promise<unknown>;
if (library === 'perf-sidecar') {
  const cache = createCache({
    redis: url,
    prefix: `${prefix}ps:`,
    name: 'bench-lock',
    ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }),
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

/** Epoch ms with sub-ms precision: comparable between the processes of one machine. */
const now = () => performance.timeOrigin + performance.now();

process.stdout.write('ready\n');
const lines = createInterface({ input: process.stdin });
let done = 0;
for await (const line of lines) {
  const [command, lineKey] = line.split(' ');
  if (command !== 'go') continue;
  const key = lineKey ?? defaultKey;
  if (key === undefined) throw new Error('go without a key, and KEY is not set');
  const startedAt = now();
  const results = await Promise.allSettled(Array.from({ length: callers }, () => getOrSet(key)));
  const finishedAt = now();
  const failed = results.filter((r) => r.status === 'rejected' || r.value !== VALUE).length;
  process.stdout.write(`${JSON.stringify({ ms: finishedAt - startedAt, failed, startedAt, finishedAt })}\n`);
  if (++done >= rounds) break;
}
lines.close();
await close();
raw.disconnect();
process.exit(0);
