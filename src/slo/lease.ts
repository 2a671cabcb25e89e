/**
 * The evaluator lease: one instance at a time raises burn-rate alerts for a deployment (the
 * instances that share a Redis and an `ALERT_KEY_PREFIX`). The holder renews it on every
 * evaluation; when the holder dies, the lease expires after `ttlMs` and the next instance that
 * evaluates takes it, so alerts resume within `ttlMs` plus one evaluation interval.
 *
 * The lease is also a fence: the scripts that open and close episodes check that the caller still
 * holds it, so an instance that paused past its lease (a long GC, a frozen container) cannot write
 * a record its successor has already written.
 */

import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';

/** Takes the lease when free, renews it when held by `token`. KEYS[1] = lease; ARGV = token, ttl ms. */
const TAKE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** Gives the lease up when held by `token`. */
const GIVE_UP = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** See the module comment. */
export class RedisLease {
  /** This instance's token (random per process). */
  readonly token = randomUUID();

  /**
   * @param client the connection (not closed here).
   * @param key the lease key, prefix included.
   * @param ttlMs how long the lease lasts without renewal.
   */
  constructor(client: Promise<RedisClient>, key: string, ttlMs: number) {
    this.client = client;
    this.key = key;
    this.ttlMs = ttlMs;
  }

  /** The connection (not closed here). */
  readonly client: Promise<RedisClient>;
  /** The lease key, prefix included. */
  readonly key: string;
  /** How long the lease lasts without renewal, ms. */
  readonly ttlMs: number;

  /** Takes or renews the lease; resolves whether this instance holds it. Rejects when Redis does not answer. */
  async take(): Promise<boolean> {
    const client = await this.client;
    const held = await untraced(() => client.eval(TAKE, 1, this.key, this.token, String(this.ttlMs)));
    return held === 1;
  }

  /** Gives the lease up (on stop), so another instance takes over at once. Never rejects. */
  async giveUp(): Promise<void> {
    try {
      const client = await this.client;
      await untraced(() => client.eval(GIVE_UP, 1, this.key, this.token));
    } catch {
      // It expires by itself.
    }
  }
}
