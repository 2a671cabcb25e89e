/**
 * The second level (L2): Redis through ioredis. Each cache operation is one round trip. Reads are
 * one `MGET` (the value, the prefix version, the versions of the tags a write will need): as cheap
 * as a GET. Writes, deletes and invalidations are small Lua scripts that also publish the matching
 * bus message in the same atomic step, so a change can never be applied without being announced.
 *
 * Freshness is kept on the Redis server's clock: writes stamp `freshUntil` from Redis's `TIME`,
 * and the driver keeps the offset between this process's monotonic clock and Redis's (measured
 * from `TIME` replies, error under half a round trip), so skewed process clocks never matter.
 * The driver knows keys and text, not values or policies.
 */
import type { ChainableCommander } from 'ioredis';
import type { Logger } from 'pino';
import { errorText } from '../../shared/errors.ts';
import { closeRedisClient, isCluster, type RedisClient } from '../../shared/redis.ts';
import { SharedTimeout } from '../../shared/timeout.ts';
import { untraced } from '../../shared/tracing.ts';
import { monotonicNow } from '../clock.ts';
import type { EnvelopeTail } from '../envelope.ts';
import type { CacheTelemetry, RedisOperation } from '../telemetry.ts';
import type { L2Driver, L2Write, RedisRead } from './l2.ts';
import { SCRIPTS, type Script } from './redis-scripts.ts';

export type { RedisRead } from './l2.ts';

/** Options of {@link RedisDriver}. */
export interface RedisDriverOptions {
  /**
   * The connection, or a promise of it (URL connections are made asynchronously). A `Cluster` works
   * when every key of the prefix shares one slot (a hash tag in the prefix, checked by the options).
   */
  readonly client: RedisClient | Promise<RedisClient>;
  /** Whether {@link RedisDriver.close} closes the client. */
  readonly ownsClient: boolean;
  /** Key prefix. */
  readonly prefix: string;
  /** Longest wait for one round trip, ms. */
  readonly commandTimeoutMs: number;
  /** Spans and histograms. */
  readonly telemetry: CacheTelemetry;
  /** Where the driver's own log lines go. */
  readonly logger: Logger;
}

/** Most keys deleted by one script call (Lua's `unpack` has a stack limit). */
const DELETE_CHUNK = 100;
/**
 * Most entries, and most key characters, per script call of a batch write: Lua's `unpack` and the
 * bus message (`maxBusMessageBytes`, 64 KiB by default) stay bounded whatever the batch.
 */
const WRITE_CHUNK = 100;
const WRITE_CHUNK_KEY_CHARS = 16 * 1024;
/** How long a measured clock offset is used before it is measured again, ms. */
const CLOCK_RESYNC_MS = 30_000;

/** Raised when a round trip is not attempted because the connection is not ready. */
export class RedisNotReadyError extends Error {
  constructor() {
    super('the cache Redis connection is not ready');
    this.name = 'RedisNotReadyError';
  }
}

/** When this process's monotonic clock started, ms since the Unix epoch. */
const TIME_ORIGIN = performance.timeOrigin;

/** This process's clock, ms: monotonic (never jumps with the wall clock), on the Unix epoch scale. */
function localNow(): number {
  return TIME_ORIGIN + monotonicNow();
}

/** The versions of no tags, shared. */
const NO_VERSIONS: readonly number[] = Object.freeze([]);

function toNumber(value: unknown): number {
  const n = typeof value === 'number' ? value : Number(value ?? 0);
  return Number.isFinite(n) ? n : 0;
}

/** See the module comment. */
export class RedisDriver implements L2Driver {
  #client: RedisClient | undefined;
  readonly #ownsClient: boolean;
  readonly #prefix: string;
  /** Bounds every round trip: one timer for all of them, not one each (they all take the same bound). */
  readonly #deadline: SharedTimeout;
  readonly #telemetry: CacheTelemetry;
  readonly #readyListeners: (() => void)[] = [];
  /** Redis clock minus local clock, ms; undefined until first measured. */
  #offsetMs: number | undefined;
  #offsetAt = 0;
  #syncing: Promise<void> | undefined;
  /** Settles once the client exists (or could not be created). */
  readonly created: Promise<void>;
  /** Channel of the invalidation bus. */
  readonly channel: string;
  /** The prefix version's key, read by every read: made once. */
  readonly #globalKey: string;

  constructor(options: RedisDriverOptions) {
    this.#ownsClient = options.ownsClient;
    this.#prefix = options.prefix;
    this.#deadline = new SharedTimeout(options.commandTimeoutMs, 'cache Redis round trip');
    this.#telemetry = options.telemetry;
    this.channel = `${options.prefix}bus`;
    this.#globalKey = this.tagKey('');
    this.created = Promise.resolve(options.client).then(
      (client) => {
        this.#client = client;
        for (const listener of this.#readyListeners) client.on('ready', listener);
        if (client.status === 'ready') for (const listener of this.#readyListeners) listener();
      },
      (error: unknown) => {
        options.logger.error(
          { err: errorText(error) },
          'cache could not create its Redis client; running on memory alone',
        );
      },
    );
  }

  /** Whether commands may be sent now. */
  get connected(): boolean {
    return this.#client?.status === 'ready';
  }

  /**
   * Resolves `true` once the connection is ready, or `false` when it is not within `ms`, when the
   * connection attempt fails (refused, closed), or when the client could not be created. Used while
   * the first connection opens.
   */
  async waitReady(ms: number): Promise<boolean> {
    const deadline = performance.now() + ms;
    const created = await Promise.race([
      this.created.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), ms).unref()),
    ]);
    const client = this.#client;
    if (!created || client === undefined) return false;
    if (client.status === 'ready') return true;
    return new Promise<boolean>((resolve) => {
      const done = (ready: boolean) => {
        clearTimeout(timer);
        client.off('ready', onReady);
        client.off('close', onEnd);
        client.off('end', onEnd);
        resolve(ready);
      };
      const onReady = () => done(true);
      const onEnd = () => done(false);
      const timer = setTimeout(() => done(false), Math.max(0, deadline - performance.now()));
      timer.unref();
      client.on('ready', onReady);
      client.on('close', onEnd);
      client.on('end', onEnd);
    });
  }

  /**
   * One `PING`, not bounded by the cache's timer: the circuit breaker's probe. At most one is sent
   * at a time (the breaker's rule), so a hung server holds at most one; its late answer is the news
   * that the server is back.
   */
  async ping(): Promise<void> {
    const client = this.#readyClient();
    // Not a cache operation: no span, and a hung probe must not skew the round-trip histogram. On a
    // cluster a PING goes to any node; the probe must ask the master that owns the cache's slot, so
    // it reads the prefix version key there instead.
    await untraced(() => (isCluster(client) ? client.exists(this.tagKey('')) : client.ping()));
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

  /** Now on the Redis server's clock, ms, or `undefined` before the offset was first measured. */
  serverNow(): number | undefined {
    return this.#offsetMs === undefined ? undefined : localNow() + this.#offsetMs;
  }

  /** Whether the clock offset was never measured, or not recently. */
  get clockStale(): boolean {
    return this.#offsetMs === undefined || localNow() - this.#offsetAt > CLOCK_RESYNC_MS;
  }

  /** Measures the clock offset with `TIME` (one measurement at a time). */
  syncClock(): Promise<void> {
    this.#syncing ??= this.#telemetry
      .roundTrip('clock', async () => {
        const client = this.#readyClient();
        const sent = localNow();
        // Freshness is judged on the clock of the master that runs the scripts: on a cluster TIME
        // would go to any node, so it is asked through a script keyed by the prefix version key.
        const [seconds, micros] = (await (isCluster(client)
          ? this.#evaluate(client, SCRIPTS.time, [this.tagKey('')], [])
          : this.#bounded(client.time()))) as [string | number, string | number];
        this.#learnClock(Number(seconds) * 1000 + Math.floor(Number(micros) / 1000), sent);
      })
      .finally(() => {
        this.#syncing = undefined;
      });
    return this.#syncing;
  }

  /** Records a server clock reading taken between `sentAt` and now (assumed half way). */
  #learnClock(serverMs: number, sentAt: number): void {
    const received = localNow();
    this.#offsetMs = serverMs - (sentAt + received) / 2;
    this.#offsetAt = received;
  }

  /** Reads a value, the prefix version and the versions of `requestedTags`, in one MGET. */
  async read(key: string, requestedTags: readonly string[]): Promise<RedisRead> {
    const client = this.#readyClient();
    const keys = [this.valueKey(key), this.#globalKey];
    for (const tag of requestedTags) keys.push(this.tagKey(tag));
    const reply = await this.#telemetry.roundTrip('read', () => this.#bounded(client.mget(keys)));
    const text = reply[0];
    return {
      text: typeof text === 'string' ? text : undefined,
      globalVersion: toNumber(reply[1]),
      // `get` asks for no tag: no arrays to make for none.
      requestedVersions: requestedTags.length === 0 ? NO_VERSIONS : reply.slice(2).map(toNumber),
    };
  }

  /**
   * Reads several keys, each as {@link read} does (one MGET of its value, the prefix version and its
   * tags' versions), in one pipelined round trip. Per-key commands, not one script over all keys:
   * each key's reply is atomic on its own, and a cluster client can split the pipeline by node.
   */
  async readMany(
    keys: readonly string[],
    requestedTags: readonly (readonly string[])[],
  ): Promise<RedisRead[]> {
    if (keys.length === 0) return [];
    const client = this.#readyClient();
    const pipeline = client.pipeline();
    for (let i = 0; i < keys.length; i++) {
      const names = [this.valueKey(keys[i] as string), this.tagKey('')];
      for (const tag of requestedTags[i] ?? []) names.push(this.tagKey(tag));
      pipeline.mget(names);
    }
    const replies = await this.#telemetry.roundTrip('read_many', () => this.#bounded(pipeline.exec()));
    return keys.map((_, i) => {
      const [error, reply] = replies?.[i] ?? [new Error('the pipeline returned no reply'), undefined];
      if (error) throw error;
      const values = reply as unknown[];
      const text = values[0];
      return {
        text: typeof text === 'string' ? text : undefined,
        globalVersion: toNumber(values[1]),
        requestedVersions: values.slice(2).map(toNumber),
      };
    });
  }

  /**
   * Writes several entries as {@link write} does, in one pipelined round trip of one script call per
   * chunk (bounded in entries and key characters); each chunk publishes `message(chunk)` atomically
   * with its writes. A cluster driver would make the chunks per hash slot.
   */
  async writeMany(entries: readonly L2Write[], message: (chunk: readonly string[]) => string): Promise<void> {
    if (entries.length === 0) return;
    const client = this.#readyClient();
    const calls: { keys: string[]; args: string[] }[] = [];
    for (const chunk of chunksOf(entries)) {
      const args = [this.channel, message(chunk.map((e) => e.key))];
      for (const e of chunk) args.push(e.format, e.tail, String(e.ttlMs), String(e.graceMs));
      calls.push({ keys: chunk.map((e) => this.valueKey(e.key)), args });
    }
    const { now, sent } = await this.#telemetry.roundTrip('write_many', async () => {
      let sentAt = localNow();
      let replies = await this.#bounded(pipelined(client, calls, 'evalsha'));
      const unknown = calls.filter((_, i) => isNoScript(replies[i]?.[0]));
      if (unknown.length > 0) {
        // First use on this server (or after SCRIPT FLUSH / a restart): send those with the script itself.
        sentAt = localNow();
        const again = await this.#bounded(pipelined(client, unknown, 'eval'));
        let next = 0;
        replies = replies.map((reply) => (isNoScript(reply[0]) ? (again[next++] ?? reply) : reply));
      }
      let latest = 0;
      for (const [error, reply] of replies) {
        if (error) throw error;
        latest = Math.max(latest, toNumber(reply));
      }
      return { now: latest, sent: sentAt };
    });
    this.#learnClock(now, sent);
  }

  /**
   * Writes an entry of envelope `format` fresh for `ttlMs` (on Redis's clock) and kept `graceMs`
   * longer, and publishes `message` on the bus, atomically.
   */
  async write(
    key: string,
    format: string,
    tail: EnvelopeTail,
    ttlMs: number,
    graceMs: number,
    message: string,
  ): Promise<void> {
    const sent = localNow();
    const now = await this.#run(
      'write',
      SCRIPTS.write,
      [this.valueKey(key)],
      [tail, String(ttlMs), String(graceMs), this.channel, message, format],
    );
    this.#learnClock(toNumber(now), sent);
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
    const sent = localNow();
    const reply = (await this.#run(
      'invalidate',
      SCRIPTS.invalidate,
      tags.map((t) => this.tagKey(t)),
      [this.channel, sender, String(retentionMs), ...tags],
    )) as unknown[];
    const versions = reply.map(toNumber);
    this.#learnClock(versions.pop() ?? 0, sent);
    return versions;
  }

  /** Current versions of tags (the empty tag: the whole prefix). */
  async versions(tags: readonly string[]): Promise<number[]> {
    const client = this.#readyClient();
    const reply = await this.#telemetry.roundTrip('versions', () =>
      this.#bounded(client.mget(tags.map((t) => this.tagKey(t)))),
    );
    return reply.map(toNumber);
  }

  #readyClient(): RedisClient {
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
    return this.#telemetry.roundTrip(operation, () => this.#evaluate(client, s, keys, args));
  }

  /** Runs a script by SHA, or with its text when the server does not know it yet; each bounded. */
  async #evaluate(
    client: RedisClient,
    s: Script,
    keys: readonly string[],
    args: readonly string[],
  ): Promise<unknown> {
    try {
      return await this.#bounded(client.evalsha(s.sha, keys.length, ...keys, ...args));
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith('NOSCRIPT')) throw error;
      // First use on this server (or after SCRIPT FLUSH / a restart): send the script itself.
      return await this.#bounded(client.eval(s.text, keys.length, ...keys, ...args));
    }
  }

  /**
   * Bounds a command by the cache's own timeout, whatever the client's settings: a caller's client
   * may have none, and the cache's own connections are made without ioredis's costlier one.
   */
  #bounded<T>(promise: Promise<T>): Promise<T> {
    return this.#deadline.bound(promise);
  }

  /** Closes the client when the driver owns it. */
  async close(): Promise<void> {
    await this.created;
    if (this.#ownsClient && this.#client) await closeRedisClient(this.#client);
  }

  /** Redis key of a key's distributed single-flight lock. */
  lockKey(key: string): string {
    return `${this.#prefix}l:${key}`;
  }

  /**
   * Takes the lock of `key` for `ttlMs` with `token` (`SET NX PX`). Returns 0 when taken, else the
   * remaining ms of the current holder's lock (at least 1), or -1 for a lock without expiry.
   */
  async acquireLock(key: string, token: string, ttlMs: number): Promise<number> {
    const reply = await this.#run('lock', SCRIPTS.acquire, [this.lockKey(key)], [token, String(ttlMs)]);
    return toNumber(reply);
  }

  /**
   * Deletes the lock of `key` if it still holds `token` (compare-and-delete) and then publishes
   * `message` on the bus; returns whether it did.
   */
  async releaseLock(key: string, token: string, message: string): Promise<boolean> {
    const reply = await this.#run(
      'lock',
      SCRIPTS.release,
      [this.lockKey(key)],
      [token, this.channel, message],
    );
    return toNumber(reply) === 1;
  }
}

/** Splits a batch write into script calls of at most {@link WRITE_CHUNK} entries and {@link WRITE_CHUNK_KEY_CHARS} key characters. */
function chunksOf(entries: readonly L2Write[]): L2Write[][] {
  const chunks: L2Write[][] = [];
  let chunk: L2Write[] = [];
  let chars = 0;
  for (const entry of entries) {
    if (
      chunk.length > 0 &&
      (chunk.length >= WRITE_CHUNK || chars + entry.key.length > WRITE_CHUNK_KEY_CHARS)
    ) {
      chunks.push(chunk);
      chunk = [];
      chars = 0;
    }
    chunk.push(entry);
    chars += entry.key.length;
  }
  if (chunk.length > 0) chunks.push(chunk);
  return chunks;
}

/** One pipeline of batch-write script calls, by SHA or with the script text; replies in order. */
async function pipelined(
  client: RedisClient,
  calls: readonly { keys: readonly string[]; args: readonly string[] }[],
  how: 'evalsha' | 'eval',
): Promise<[Error | null, unknown][]> {
  const pipeline: ChainableCommander = client.pipeline();
  for (const { keys, args } of calls) {
    if (how === 'evalsha') pipeline.evalsha(SCRIPTS.writeMany.sha, keys.length, ...keys, ...args);
    else pipeline.eval(SCRIPTS.writeMany.text, keys.length, ...keys, ...args);
  }
  return (await pipeline.exec()) ?? [];
}

/** Whether a pipeline reply's error says the server does not know the script. */
function isNoScript(error: Error | null | undefined): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}
