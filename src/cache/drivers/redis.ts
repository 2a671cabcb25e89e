/**
 * The second level (L2): Redis through ioredis. Each cache operation is one round trip: a small
 * Lua script that reads a value with its remaining TTL and its tags' current versions, or writes
 * (or deletes) and publishes the matching bus message atomically, so an invalidation can never be
 * applied without being announced. The driver knows keys and text, not values or policies.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { getLogger } from '../../logger.ts';
import { closeRedisClient } from '../../redis.ts';
import type { CacheTelemetry, RedisOperation } from '../telemetry.ts';

/** What one L2 read returns. */
export interface RedisRead {
  /** The stored envelope, or `undefined` when the key is absent. */
  readonly text: string | undefined;
  /** Remaining TTL of the key, ms (grace included); negative when absent. */
  readonly pttlMs: number;
  /** Current version of the whole prefix. */
  readonly globalVersion: number;
  /** Current version of each tag named in the stored envelope, in its order. */
  readonly entryVersions: readonly number[];
  /** Current version of each tag asked for in `read(key, tags)`, in that order. */
  readonly requestedVersions: readonly number[];
}

/** Options of {@link RedisDriver}. */
export interface RedisDriverOptions {
  /** The connection, or a promise of it (URL connections are made asynchronously). */
  readonly client: Redis | Promise<Redis>;
  /** Whether {@link RedisDriver.close} closes the client. */
  readonly ownsClient: boolean;
  /** Key prefix. */
  readonly prefix: string;
  /** Longest wait for one round trip, ms. */
  readonly commandTimeoutMs: number;
  /** Spans and histograms. */
  readonly telemetry: CacheTelemetry;
}

/** Most keys deleted by one script call (Lua's `unpack` has a stack limit). */
const DELETE_CHUNK = 100;

const READ = `
local text = redis.call('GET', KEYS[1])
local pttl = -2
local entry = {}
if text then
  pttl = redis.call('PTTL', KEYS[1])
  local stop = string.find(text, '\\n', 1, true)
  if stop then
    local count = tonumber(string.match(string.sub(text, 1, stop - 1), ' (%d+)$')) or 0
    local pos = stop + 1
    for i = 1, count do
      local e = string.find(text, '\\n', pos, true)
      if not e then break end
      local space = string.find(text, ' ', pos, true)
      if not space or space > e then break end
      entry[i] = tonumber(redis.call('GET', ARGV[1] .. string.sub(text, space + 1, e - 1))) or 0
      pos = e + 1
    end
  end
end
local requested = {}
for i = 3, #KEYS do requested[i - 2] = tonumber(redis.call('GET', KEYS[i])) or 0 end
return {text, pttl, tonumber(redis.call('GET', KEYS[2])) or 0, entry, requested}
`;

const WRITE = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
`;

const DELETE = `
local n = redis.call('DEL', unpack(KEYS))
redis.call('PUBLISH', ARGV[1], ARGV[2])
return n
`;

// A new version is the larger of the old one plus one and the Redis server's clock in ms: versions
// only ever grow, and a tag key that expired and is created again can never repeat a version that
// an entry still remembers. Only equality of versions is ever compared, never clocks.
const INVALIDATE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local versions = {}
local changed = {}
for i, key in ipairs(KEYS) do
  local v = math.max((tonumber(redis.call('GET', key)) or 0) + 1, now)
  redis.call('SET', key, string.format('%d', v), 'PX', ARGV[3])
  versions[i] = v
  changed[ARGV[i + 3]] = v
end
redis.call('PUBLISH', ARGV[1], cjson.encode({s = ARGV[2], t = changed}))
return versions
`;

interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash('sha1').update(text).digest('hex') };
}

const SCRIPTS = {
  read: script(READ),
  write: script(WRITE),
  delete: script(DELETE),
  invalidate: script(INVALIDATE),
};

/** Raised when a round trip is not attempted because the connection is not ready. */
export class RedisNotReadyError extends Error {
  constructor() {
    super('the cache Redis connection is not ready');
    this.name = 'RedisNotReadyError';
  }
}

/** Raised when a round trip takes longer than the command timeout. */
class RedisTimeoutError extends Error {
  constructor(ms: number) {
    super(`cache Redis round trip took longer than ${ms} ms`);
    this.name = 'RedisTimeoutError';
  }
}

function toNumber(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** See the module comment. */
export class RedisDriver {
  #client: Redis | undefined;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  readonly #telemetry: CacheTelemetry;
  /** Whether the client's own command timeout already bounds every command. */
  #clientTimesOut = false;
  readonly #readyListeners: (() => void)[] = [];
  /** Settles once the client exists (or could not be created). */
  readonly created: Promise<void>;
  /** Channel of the invalidation bus. */
  readonly channel: string;

  constructor(options: RedisDriverOptions) {
    this.#ownsClient = options.ownsClient;
    this.#prefix = options.prefix;
    this.#timeoutMs = options.commandTimeoutMs;
    this.#telemetry = options.telemetry;
    this.channel = `${options.prefix}bus`;
    this.created = Promise.resolve(options.client).then(
      (client) => {
        this.#client = client;
        const own = client.options.commandTimeout;
        this.#clientTimesOut = typeof own === 'number' && own > 0 && own <= this.#timeoutMs;
        for (const listener of this.#readyListeners) client.on('ready', listener);
        if (client.status === 'ready') for (const listener of this.#readyListeners) listener();
      },
      (error: unknown) => {
        getLogger().error(
          { err: error instanceof Error ? error.message : String(error) },
          'cache could not create its Redis client; running on memory alone',
        );
      },
    );
  }

  /** The client, once created (the bus duplicates it). */
  get client(): Redis | undefined {
    return this.#client;
  }

  /** Whether commands may be sent now. */
  get connected(): boolean {
    return this.#client?.status === 'ready';
  }

  /** Calls `listener` whenever the connection becomes ready. */
  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
    this.#client?.on('ready', listener);
  }

  /** Redis key of a value. */
  valueKey(key: string): string {
    return `${this.#prefix}v:${key}`;
  }

  /** Redis key of a tag's version; the empty tag is the version of the whole prefix. */
  tagKey(tag: string): string {
    return tag === '' ? `${this.#prefix}g` : `${this.#prefix}t:${tag}`;
  }

  /** Reads a value, its remaining TTL and current tag versions (also of `requestedTags`). */
  async read(key: string, requestedTags: readonly string[]): Promise<RedisRead> {
    const keys = [this.valueKey(key), this.tagKey('')];
    for (const tag of requestedTags) keys.push(this.tagKey(tag));
    const reply = (await this.#run('read', SCRIPTS.read, keys, [`${this.#prefix}t:`])) as unknown[];
    const text = reply[0];
    return {
      text: typeof text === 'string' ? text : undefined,
      pttlMs: toNumber(reply[1]),
      globalVersion: toNumber(reply[2]),
      entryVersions: Array.isArray(reply[3]) ? reply[3].map(toNumber) : [],
      requestedVersions: Array.isArray(reply[4]) ? reply[4].map(toNumber) : [],
    };
  }

  /** Writes a value for `pxMs` and publishes `message` on the bus, atomically. */
  async write(key: string, text: string, pxMs: number, message: string): Promise<void> {
    await this.#run(
      'write',
      SCRIPTS.write,
      [this.valueKey(key)],
      [text, String(pxMs), this.channel, message],
    );
  }

  /** Deletes keys and publishes `message(chunk)` for each chunk of them, atomically per chunk. */
  async deleteKeys(keys: readonly string[], message: (chunk: readonly string[]) => string): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_CHUNK) {
      const chunk = keys.slice(i, i + DELETE_CHUNK);
      await this.#run(
        'delete',
        SCRIPTS.delete,
        chunk.map((k) => this.valueKey(k)),
        [this.channel, message(chunk)],
      );
    }
  }

  /**
   * Gives each tag a new version (the empty tag: the whole prefix), keeps it `retentionMs`, and
   * publishes the new versions with `sender`. Returns the new versions in `tags` order.
   */
  async invalidate(tags: readonly string[], sender: string, retentionMs: number): Promise<number[]> {
    const reply = (await this.#run(
      'invalidate',
      SCRIPTS.invalidate,
      tags.map((t) => this.tagKey(t)),
      [this.channel, sender, String(retentionMs), ...tags],
    )) as unknown[];
    return reply.map(toNumber);
  }

  /** Current versions of tags (the empty tag: the whole prefix). */
  async versions(tags: readonly string[]): Promise<number[]> {
    const client = this.#readyClient();
    const reply = await this.#telemetry.roundTrip('versions', () =>
      this.#bounded(client.mget(tags.map((t) => this.tagKey(t)))),
    );
    return reply.map(toNumber);
  }

  #readyClient(): Redis {
    const client = this.#client;
    // Never hand a command to a client that is not connected: a caller's client may have an offline
    // queue, and waiting in it is exactly what the cache must not do.
    if (client?.status !== 'ready') throw new RedisNotReadyError();
    return client;
  }

  #run(
    operation: RedisOperation,
    s: Script,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    const client = this.#readyClient();
    return this.#telemetry.roundTrip(operation, async () => {
      try {
        return await this.#bounded(client.evalsha(s.sha, keys.length, ...keys, ...args));
      } catch (error) {
        if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
        // First use on this server (or after SCRIPT FLUSH / a restart): send the script itself.
        return await this.#bounded(client.eval(s.text, keys.length, ...keys, ...args));
      }
    });
  }

  #bounded<T>(promise: Promise<T>): Promise<T> {
    if (this.#clientTimesOut) return promise;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RedisTimeoutError(this.#timeoutMs)), this.#timeoutMs);
    });
    return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
  }

  /** Closes the client when the driver owns it. */
  async close(): Promise<void> {
    await this.created;
    if (this.#ownsClient && this.#client) await closeRedisClient(this.#client);
  }
}
