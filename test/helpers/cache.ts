/**
 * Caches for tests: each test gets its own Redis prefix on the shared test Redis, and everything it
 * opened is closed and its keys deleted afterwards.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { type Cache, type CacheOptions, createCache } from '../../src/cache/index.ts';
import { TEST_REDIS_URL } from './env.ts';

/** Tracks what a test opened. */
export class CacheFixture {
  /** This test's key prefix. */
  readonly prefix = `perf-test:${randomUUID()}:`;
  /** A plain client on the test Redis, for looking at keys directly. */
  readonly redis: Redis;
  readonly #caches: Cache[] = [];

  constructor(url = TEST_REDIS_URL) {
    this.redis = new Redis(url, { maxRetriesPerRequest: 1 });
    this.redis.on('error', () => undefined);
  }

  /** A cache on the test Redis under this test's prefix, connected (Redis and bus) before it returns. */
  async open(options: CacheOptions = {}): Promise<Cache> {
    const cache = this.openNow({ redis: TEST_REDIS_URL, ...options });
    if (!(await cache.ready())) throw new Error('cache did not connect to the test Redis');
    return cache;
  }

  /** A cache under this test's prefix, not waited for (memory-only when `redis` is not given). */
  openNow(options: CacheOptions = {}): Cache {
    const cache = createCache({ prefix: this.prefix, name: `test-${this.#caches.length}`, ...options });
    this.#caches.push(cache);
    return cache;
  }

  /** The Redis key of a cache value. */
  valueKey(key: string): string {
    return `${this.prefix}v:${key}`;
  }

  /** Closes every cache and deletes this test's keys. */
  async cleanup(): Promise<void> {
    await Promise.all(this.#caches.map((c) => c.close()));
    if (this.redis.status === 'ready') {
      const keys = await this.redis.keys(`${this.prefix}*`);
      if (keys.length > 0) await this.redis.del(...keys);
    }
    this.redis.disconnect();
  }
}
