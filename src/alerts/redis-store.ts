/**
 * Alert lists in Redis: `LPUSH` + `LTRIM` in one `MULTI`, in-place updates by a small Lua script,
 * tracing suppressed so that perf-sidecar's own writes never become spans that feed back into the
 * target processor.
 */

import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import type { RedisClient } from '../shared/redis.ts';
import { closeRedisClient, isCluster } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import type { AlertStore, ScannedEntry, StoreWrite } from './store.ts';

/**
 * Replaces ARGV[1] by ARGV[2] in list KEYS[1]; when ARGV[1] is no longer there (a consumer took it,
 * or LTRIM dropped it) pushes ARGV[2] as the newest entry and trims to ARGV[3]. Atomic, so a
 * concurrent consumer never sees both texts.
 */
const REPLACE_OR_PUSH = `
local at = redis.call('LPOS', KEYS[1], ARGV[1])
if at then
  redis.call('LSET', KEYS[1], at, ARGV[2])
  return 1
end
redis.call('LPUSH', KEYS[1], ARGV[2])
redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[3]) - 1)
return 0
`;

/**
 * LRANGE KEYS[1] ARGV[1] ARGV[2], with every entry longer than ARGV[3] bytes replaced by its length
 * (an integer reply), so that an oversized entry someone else pushed never crosses the network.
 */
const SCAN_RANGE = `
local items = redis.call('LRANGE', KEYS[1], ARGV[1], ARGV[2])
local max = tonumber(ARGV[3])
for i = 1, #items do
  if #items[i] > max then items[i] = #items[i] end
end
return items
`;

/** Options of {@link RedisAlertStore}. */
export interface RedisAlertStoreOptions {
  /**
   * The connection, or a promise of it (the preload entry creates it only once the ESM hooks are
   * in place). Use one that fails fast (see `createRedisClient`).
   */
  readonly client: RedisClient | Promise<RedisClient>;
  /** Entries kept per list. */
  readonly listMax: number;
  /** Whether {@link RedisAlertStore.close} closes the client (true when the store created it). */
  readonly ownsClient: boolean;
}

/** Alert lists in Redis. */
export class RedisAlertStore implements AlertStore {
  #client: RedisClient | undefined;
  readonly #connected: Promise<void>;
  readonly #listeners: (() => void)[] = [];
  readonly #listMax: number;
  readonly #ownsClient: boolean;

  constructor(options: RedisAlertStoreOptions) {
    this.#listMax = options.listMax;
    this.#ownsClient = options.ownsClient;
    this.#connected = Promise.resolve(options.client).then(
      (client) => {
        this.#client = client;
        for (const listener of this.#listeners) client.on('ready', listener);
        if (client.status === 'ready') for (const listener of this.#listeners) listener();
      },
      (error: unknown) => {
        getLogger().error(
          { err: errorText(error) },
          'alert store could not create its Redis client; alerts stay buffered',
        );
      },
    );
  }

  /** Settles once the client exists (or could not be created). */
  get connected(): Promise<void> {
    return this.#connected;
  }

  get available(): boolean {
    return this.#client?.status === 'ready';
  }

  /**
   * True on one connection, which runs commands in the order sent. False on a Cluster, where a
   * redirected command is sent again after the ones behind it.
   */
  get writesInCallOrder(): boolean {
    return this.#client !== undefined && !isCluster(this.#client);
  }

  onAvailable(listener: () => void): void {
    this.#listeners.push(listener);
    this.#client?.on('ready', listener);
  }

  write(writes: readonly StoreWrite[]): Promise<void> {
    return untraced(() => this.#write(writes));
  }

  async #write(writes: readonly StoreWrite[]): Promise<void> {
    const client = this.#client;
    if (!client) throw new Error('the alert store has no Redis connection yet');
    const tx = client.multi();
    const trimmed = new Set<string>();
    // Consecutive pushes to one list become one LPUSH: its arguments land newest-last-at-head,
    // which keeps the emission order.
    let pushList: string | undefined;
    let pushValues: string[] = [];
    const flushPush = () => {
      if (pushList !== undefined && pushValues.length > 0) {
        tx.lpush(pushList, ...pushValues);
        trimmed.add(pushList);
      }
      pushList = undefined;
      pushValues = [];
    };
    for (const w of writes) {
      if (w.previousJson !== undefined) {
        flushPush();
        tx.eval(REPLACE_OR_PUSH, 1, w.list, w.previousJson, w.json, this.#listMax);
        continue;
      }
      if (pushList !== w.list) flushPush();
      pushList = w.list;
      pushValues.push(w.json);
    }
    flushPush();
    for (const list of trimmed) tx.ltrim(list, 0, this.#listMax - 1);
    const results = await tx.exec();
    if (results === null) throw new Error('alert write transaction was aborted');
    for (const [error] of results) {
      if (error) throw error;
    }
  }

  scan(list: string, start: number, count: number, maxEntryBytes: number): Promise<ScannedEntry[]> {
    const client = this.#client;
    if (!client) return Promise.reject(new Error('the alert store has no Redis connection yet'));
    return untraced(
      () =>
        client.eval(SCAN_RANGE, 1, list, start, start + count - 1, maxEntryBytes) as Promise<ScannedEntry[]>,
    );
  }

  async close(): Promise<void> {
    await this.#connected;
    if (this.#ownsClient && this.#client) await closeRedisClient(this.#client);
  }
}
