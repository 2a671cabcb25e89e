/**
 * The cache against its peers, side by side in one run on the same Redis: BentoCache and
 * cache-manager (each as its documentation sets it up: L1 memory + L2 Redis, BentoCache with its
 * Redis bus), raw lru-cache and raw ioredis as the floors.
 *
 * 1. memory-hit get / getOrSet, against `await lru.get()` in an async function (the floor of any
 *    async API; the synchronous get is shown beside it);
 * 2. Redis-hit get with a cold memory level, against ioredis GET + JSON.parse of the same JSON text;
 * 3. miss + trivial factory, against a hand-written ioredis GET + SET read-through;
 * 4. stampede: factory calls for 1,000 concurrent getOrSet on a cold key (one and two instances);
 * 5. tag invalidation with 10,000 tagged keys, against the usual Redis-set approach;
 * 6. a hung Redis (own redis-server stopped with SIGSTOP, default options): the latency it adds to
 *    sequential and concurrent calls, and how long after SIGCONT the cache is coherent again
 *    (`node bench/cache.bench.ts hang` runs this one alone).
 *
 * Payloads: a 100-byte string and an array of 100 small objects.
 */
import { randomUUID } from 'node:crypto';
import { CacheableMemory } from '@cacheable/memory';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { type Cache as CacheManager, createCache as createCacheManager } from 'cache-manager';
import { Redis } from 'ioredis';
import { Keyv } from 'keyv';
import { LRUCache } from 'lru-cache';
import { type Cache, createCache } from '../src/cache/index.ts';
import { setLogLevel } from '../src/shared/logger.ts';
import { OwnRedis } from '../test/helpers/redis-server.ts';
import { compare } from './lib.ts';

const STRING_100 = 'x'.repeat(100);
const ARRAY_100 = Array.from({ length: 100 }, (_, i) => ({
  id: i,
  name: `item ${i}`,
  price: i * 1.5,
  tags: ['a', 'b'],
  active: i % 2 === 0,
}));
const PAYLOADS = [
  ['100-byte string', STRING_100],
  ['100-object array', ARRAY_100],
] as const;
const TTL_SECONDS = 600;

interface Peers {
  readonly raw: Redis;
  readonly lru: LRUCache<string, string | object>;
  readonly ours: Cache;
  readonly oursRedisOnly: Cache;
  /** {@link oursRedisOnly} with `freeze: 'shared'`: a Redis read for one caller is not frozen. */
  readonly oursRedisOnlyUnfrozen: Cache;
  readonly bento: BentoCache<Record<string, ReturnType<typeof bentostore>>>;
  readonly manager: CacheManager;
  readonly managerRedisOnly: CacheManager;
  close(): Promise<void>;
}

async function setUp(url: string, prefix: string): Promise<Peers> {
  const raw = new Redis(url);
  const { hostname, port } = new URL(url);
  const connection = { host: hostname, port: Number(port || 6379) };
  const lru = new LRUCache<string, string | object>({ max: 10_000 });
  const ours = createCache({ redis: url, prefix: `${prefix}ps:`, name: 'bench' });
  // maxEntryBytes 0 keeps nothing in memory: every read is a Redis read (a cold memory level).
  const oursRedisOnly = createCache({
    redis: url,
    prefix: `${prefix}ps:`,
    name: 'bench-l2',
    maxEntryBytes: 0,
  });
  const oursRedisOnlyUnfrozen = createCache({
    redis: url,
    prefix: `${prefix}ps:`,
    name: 'bench-l2-unfrozen',
    maxEntryBytes: 0,
    freeze: 'shared',
  });
  const bento = new BentoCache({
    default: 'multi',
    prefix: `${prefix}bento`,
    stores: {
      multi: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000, maxSize: 64 * 1024 * 1024 }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
      unserialized: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000, serialize: false }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
      l2: bentostore().useL2Layer(redisDriver({ connection })),
    },
  });
  const managerRedis = () => new Keyv({ store: new KeyvRedis(url), namespace: `${prefix}cm` });
  const manager = createCacheManager({
    stores: [new Keyv({ store: new CacheableMemory({ lruSize: 10_000 }) }), managerRedis()],
  });
  const managerRedisOnly = createCacheManager({ stores: [managerRedis()] });
  if (!(await ours.ready()) || !(await oursRedisOnly.ready()) || !(await oursRedisOnlyUnfrozen.ready()))
    throw new Error(`Redis at ${url} does not answer`);
  return {
    raw,
    lru,
    ours,
    oursRedisOnly,
    oursRedisOnlyUnfrozen,
    bento,
    manager,
    managerRedisOnly,
    async close() {
      await ours.close();
      await oursRedisOnly.close();
      await oursRedisOnlyUnfrozen.close();
      await bento.disconnectAll();
      await manager.disconnect();
      await managerRedisOnly.disconnect();
      const keys = await raw.keys(`${prefix}*`);
      for (let i = 0; i < keys.length; i += 1000) await raw.unlink(...keys.slice(i, i + 1000));
      await raw.quit();
    },
  };
}

async function memoryHits(p: Peers): Promise<void> {
  for (const [label, payload] of PAYLOADS) {
    const key = `hit:${label}`;
    p.lru.set(key, payload);
    await p.ours.set(key, payload, { ttlSeconds: TTL_SECONDS });
    await p.bento.set({ key, value: payload, ttl: '10m' });
    await p.bento.use('unserialized').set({ key, value: payload, ttl: '10m' });
    await p.manager.set(key, payload, TTL_SECONDS * 1000);
    const factory = () => payload;
    await compare(
      `memory-level hit, ${label}`,
      [
        // The floor of any async API: what an async function that awaits lru-cache's get costs.
        { name: 'await lru.get() in an async function', run: async () => await p.lru.get(key) },
        { name: 'raw lru-cache get (sync)', run: () => p.lru.get(key) },
        { name: 'perf-sidecar get', run: () => p.ours.get(key) },
        { name: 'perf-sidecar getOrSet', run: () => p.ours.getOrSet(key, factory) },
        { name: 'bentocache get', run: () => p.bento.get({ key }) },
        { name: 'bentocache getOrSet', run: () => p.bento.getOrSet({ key, factory }) },
        { name: 'bentocache get, L1 serialize: false', run: () => p.bento.use('unserialized').get({ key }) },
        { name: 'cache-manager get', run: () => p.manager.get(key) },
        { name: 'cache-manager wrap', run: () => p.manager.wrap(key, factory) },
      ],
      // tinybench takes at least 64 samples per case: keep the slow peers' samples short.
      { timeMs: 300, batch: typeof payload === 'string' ? 1000 : 100 },
    );
  }
}

async function redisHits(p: Peers, prefix: string): Promise<void> {
  for (const [label, payload] of PAYLOADS) {
    const key = `l2:${label}`;
    const rawKey = `${prefix}raw:${key}`;
    const json = JSON.stringify(payload);
    await p.raw.set(rawKey, json, 'EX', TTL_SECONDS);
    await p.oursRedisOnly.set(key, payload, { ttlSeconds: TTL_SECONDS });
    // The baseline parses the very JSON text the cache parses: its Redis entry is a header, then it.
    const entry = await p.raw.get(`${prefix}ps:v:${key}`);
    if (!entry?.endsWith(`\n${json}`))
      throw new Error(`the cache's Redis entry of ${key} is not the JSON text`);
    const rawGet = async () => {
      const text = await p.raw.get(rawKey);
      if (text === null) throw new Error(`${rawKey} is missing`);
      return JSON.parse(text);
    };
    if ((await p.oursRedisOnly.get(key)) === undefined) throw new Error(`perf-sidecar missed ${key}`);
    await p.bento.use('l2').set({ key, value: payload, ttl: '10m' });
    await p.managerRedisOnly.set(key, payload, TTL_SECONDS * 1000);
    await compare(
      `Redis hit with a cold memory level, ${label}`,
      [
        {
          name: 'raw ioredis GET + JSON.parse',
          run: rawGet,
        },
        { name: 'perf-sidecar get (maxEntryBytes: 0)', run: () => p.oursRedisOnly.get(key) },
        {
          name: "perf-sidecar get (maxEntryBytes: 0, freeze: 'shared')",
          run: () => p.oursRedisOnlyUnfrozen.get(key),
        },
        { name: 'bentocache get (L2-only store)', run: () => p.bento.use('l2').get({ key }) },
        { name: 'cache-manager get (Redis store only)', run: () => p.managerRedisOnly.get(key) },
      ],
      { batch: 100, timeMs: 300 },
    );
  }
}

async function missesWithFactory(p: Peers, prefix: string): Promise<void> {
  let n = 0;
  const fresh = () => `miss:${n++}`;
  const factory = () => STRING_100;
  await compare(
    'miss + trivial factory (100-byte string): lookup, factory, write to both levels',
    [
      {
        name: 'raw ioredis GET, then SET EX (hand-written read-through)',
        run: async () => {
          const key = `${prefix}raw:${fresh()}`;
          const hit = await p.raw.get(key);
          if (hit === null) await p.raw.set(key, JSON.stringify(factory()), 'EX', 60);
        },
      },
      { name: 'perf-sidecar getOrSet', run: () => p.ours.getOrSet(fresh(), factory, { ttlSeconds: 60 }) },
      { name: 'bentocache getOrSet', run: () => p.bento.getOrSet({ key: fresh(), factory, ttl: '1m' }) },
      { name: 'cache-manager wrap', run: () => p.manager.wrap(fresh(), factory, 60_000) },
    ],
    { batch: 100, timeMs: 300 },
  );
}

/** Runs `callers` concurrent calls spread over `instances`, counting factory runs. */
async function stampede(
  instances: readonly ((key: string, factory: () => Promise<string>) => Promise<unknown>)[],
  key: string,
): Promise<{ calls: number; ms: number }> {
  let calls = 0;
  const factory = async () => {
    calls++;
    // The factory's own work (a slow query); long enough for every caller to arrive meanwhile.
    await new Promise((resolve) => setTimeout(resolve, 20));
    return STRING_100;
  };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: 1000 }, (_, i) =>
      (instances[i % instances.length] as (typeof instances)[0])(key, factory),
    ),
  );
  return { calls, ms: performance.now() - started };
}

async function stampedes(p: Peers, url: string, prefix: string): Promise<void> {
  const second = createCache({ redis: url, prefix: `${prefix}ps:`, name: 'bench-2' });
  await second.ready();
  const bento2 = new BentoCache({
    default: 'multi',
    prefix: `${prefix}bento`,
    stores: {
      multi: bentostore()
        .useL1Layer(memoryDriver({ maxItems: 10_000 }))
        .useL2Layer(
          redisDriver({
            connection: { host: new URL(url).hostname, port: Number(new URL(url).port || 6379) },
          }),
        ),
    },
  });
  const manager2 = createCacheManager({
    stores: [
      new Keyv({ store: new CacheableMemory({ lruSize: 10_000 }) }),
      new Keyv({ store: new KeyvRedis(url), namespace: `${prefix}cm` }),
    ],
  });
  const ours = (c: Cache) => (key: string, factory: () => Promise<string>) => c.getOrSet(key, factory);
  const bento = (b: typeof p.bento | typeof bento2) => (key: string, factory: () => Promise<string>) =>
    b.getOrSet({ key, factory, ttl: '1m' });
  const manager = (m: CacheManager) => (key: string, factory: () => Promise<string>) =>
    m.wrap(key, factory, 60_000);
  const rows = [];
  for (const [name, one, two] of [
    ['perf-sidecar', [ours(p.ours)], [ours(p.ours), ours(second)]],
    ['bentocache', [bento(p.bento)], [bento(p.bento), bento(bento2)]],
    ['cache-manager', [manager(p.manager)], [manager(p.manager), manager(manager2)]],
  ] as const) {
    const single = await stampede(one, `stampede:1:${name}`);
    const double = await stampede(two, `stampede:2:${name}`);
    rows.push({
      library: name,
      'factory calls, 1 instance': single.calls,
      'factory calls, 2 instances': double.calls,
      'ms for 1,000 callers (1 instance)': single.ms.toFixed(1),
    });
  }
  console.log('\nstampede: 1,000 concurrent getOrSet on one cold key, 20 ms factory');
  console.table(rows);
  await second.close();
  await bento2.disconnectAll();
  await manager2.disconnect();
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

async function inChunks(count: number, write: (i: number) => Promise<unknown>): Promise<void> {
  for (let i = 0; i < count; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => write(i + j)));
  }
}

/**
 * Lets the bus messages of a burst of writes reach every subscriber in this process before a
 * timing starts, so that the timing measures the operation and not that backlog.
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

async function tagInvalidation(p: Peers, prefix: string): Promise<void> {
  const N = 10_000;
  const ROUNDS = 5;
  const timings: Record<string, number[]> = { raw: [], ours: [], bento: [] };
  for (let round = 0; round < ROUNDS; round++) {
    const tag = `bench-tag-${round}`;
    // Raw: the usual approach, a Redis set per tag holding its keys, deleted key by key.
    const members = Array.from({ length: N }, (_, i) => `${prefix}rawtag:${round}:${i}`);
    await inChunks(N, (i) => p.raw.set(members[i] as string, STRING_100, 'EX', 60));
    await p.raw.sadd(`${prefix}rawtag:${tag}`, ...members);
    await settle();
    let started = performance.now();
    const keys = await p.raw.smembers(`${prefix}rawtag:${tag}`);
    for (let i = 0; i < keys.length; i += 1000) await p.raw.unlink(...keys.slice(i, i + 1000));
    await p.raw.del(`${prefix}rawtag:${tag}`);
    timings.raw?.push(performance.now() - started);

    await inChunks(N, (i) => p.ours.set(`tagged:${round}:${i}`, STRING_100, { ttlSeconds: 60, tags: [tag] }));
    await settle();
    started = performance.now();
    await p.ours.deleteByTags([tag]);
    timings.ours?.push(performance.now() - started);
    if ((await p.ours.get(`tagged:${round}:0`)) !== undefined)
      throw new Error('perf-sidecar tag invalidation failed');

    await inChunks(N, (i) =>
      p.bento.set({ key: `tagged:${round}:${i}`, value: STRING_100, ttl: '1m', tags: [tag] }),
    );
    await settle();
    started = performance.now();
    await p.bento.deleteByTag({ tags: [tag] });
    timings.bento?.push(performance.now() - started);
    if ((await p.bento.get({ key: `tagged:${round}:0` })) !== undefined)
      throw new Error('bentocache tag invalidation failed');
  }
  const raw = median(timings.raw ?? []);
  const row = (name: string, ms: number) => ({
    case: name,
    'ms per invalidation': ms.toFixed(2),
    'x baseline speed': (raw / ms).toFixed(1),
  });
  console.log(`\ntag invalidation with ${N.toLocaleString('en-US')} tagged keys (median of ${ROUNDS})`);
  console.table([
    row('raw ioredis: SMEMBERS + UNLINK of every key (Redis set per tag)', raw),
    row('perf-sidecar deleteByTags (tag version)', median(timings.ours ?? [])),
    row('bentocache deleteByTag', median(timings.bento ?? [])),
    { case: 'cache-manager', 'ms per invalidation': 'n/a (no tags)', 'x baseline speed': '' },
  ]);
}

/** Runs every cache benchmark against the Redis at `url`. */
export async function benchCache(url: string): Promise<void> {
  setLogLevel('error');
  const prefix = `perf-bench:${randomUUID()}:`;
  const peers = await setUp(url, prefix);
  try {
    await memoryHits(peers);
    await redisHits(peers, prefix);
    await missesWithFactory(peers, prefix);
    await stampedes(peers, url, prefix);
    await tagInvalidation(peers, prefix);
  } finally {
    await peers.close();
  }
  await hungRedis();
}

/** Bounded poll (the figure is the time it took), ms; throws past `limitMs`. */
async function timeUntil(check: () => boolean, limitMs: number): Promise<number> {
  const started = performance.now();
  while (!check()) {
    if (performance.now() - started > limitMs) throw new Error(`not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return performance.now() - started;
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

const ms = (n: number) => `${n.toFixed(n < 10 ? 2 : 0)} ms`;

/**
 * A hung Redis with the default options, in rounds: added latency of the first call (sequential),
 * of the calls after it, of 100 concurrent calls in flight when Redis stops answering, and the time
 * from SIGCONT until the breaker is closed and pending invalidations are sent.
 */
export async function hungRedis(rounds = 5): Promise<void> {
  setLogLevel('error');
  const server = await OwnRedis.start();
  const cache = createCache({
    redis: server.url,
    prefix: `perf-bench-hang:${randomUUID()}:`,
    name: 'bench-hang',
  });
  try {
    if (!(await cache.ready())) throw new Error('bench cache did not connect');
    await cache.set('warm', 'w');
    const rows: Record<string, number[]> = {
      'first get (sequential)': [],
      'first getOrSet (sequential)': [],
      'next 100 calls, worst': [],
      '100 concurrent gets, worst': [],
      'breaker opens per round': [],
      'SIGCONT to coherent': [],
    };
    for (let round = 0; round < rounds; round++) {
      const opens = cache.getStats().redis_cache.breaker_opens;
      const sequential = round % 2 === 0;
      server.signal('SIGSTOP');
      try {
        if (sequential) {
          rows['first get (sequential)']?.push(await timed(() => cache.get(`cold:${round}`)));
        } else {
          rows['first getOrSet (sequential)']?.push(
            await timed(() => cache.getOrSet(`cold:${round}`, () => 'computed')),
          );
        }
        let worst = 0;
        for (let i = 0; i < 100; i++)
          worst = Math.max(worst, await timed(() => cache.getOrSet(`after:${round}:${i}`, () => i)));
        rows['next 100 calls, worst']?.push(worst);
      } finally {
        server.signal('SIGCONT');
      }
      rows['SIGCONT to coherent']?.push(
        await timeUntil(() => {
          const s = cache.getStats().redis_cache;
          return s.breaker === 'closed' && s.pending_invalidations === 0;
        }, 30_000),
      );
      // Concurrent: 100 calls in flight when Redis stops answering.
      server.signal('SIGSTOP');
      try {
        const times = await Promise.all(
          Array.from({ length: 100 }, (_, i) => timed(() => cache.get(`concurrent:${round}:${i}`))),
        );
        rows['100 concurrent gets, worst']?.push(Math.max(...times));
      } finally {
        server.signal('SIGCONT');
      }
      await timeUntil(() => cache.getStats().redis_cache.breaker === 'closed', 30_000);
      rows['breaker opens per round']?.push((cache.getStats().redis_cache.breaker_opens - opens) / 2);
    }
    console.log(
      `\nHung Redis (SIGSTOP), default options (redisCommandTimeoutMs 250), ${rounds} rounds: median [min, max]`,
    );
    for (const [name, values] of Object.entries(rows)) {
      const sorted = [...values].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
      const format = name.startsWith('breaker') ? (n: number) => String(n) : ms;
      console.log(
        `  ${name.padEnd(30)} ${format(median)} [${format(sorted[0] ?? Number.NaN)}, ${format(sorted.at(-1) ?? Number.NaN)}]`,
      );
    }
  } finally {
    await cache.close();
    await server.dispose();
  }
}

if (import.meta.main && process.argv[2] === 'hang') await hungRedis();
