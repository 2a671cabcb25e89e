/**
 * Redis connections made by perf-sidecar itself: fail fast, never queue without bound.
 *
 * ioredis is imported lazily, on first use, for two reasons: memory-only mode never loads it, and
 * the preload entry must let the ESM instrumentation hooks settle before ioredis is first imported,
 * or the host application's own ioredis would not be instrumented.
 */
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { isCluster } from './cluster.ts';
import { getLogger } from './logger.ts';
import { importPeer } from './peers.ts';
import { redactUrl } from './urls.ts';

/**
 * A connection perf-sidecar's telemetry talks through: one Redis, or an ioredis `Cluster` (then
 * every key telemetry touches carries the hash tag of `ALERT_KEY_PREFIX`, so that its scripts,
 * transactions and pipelines stay in one slot).
 */
export type RedisClient = Redis | Cluster;

/** Whether `client` is an ioredis `Cluster` (see cluster.ts). */
export { isCluster };

/** Options of {@link createRedisClient}. */
export interface RedisClientOptions {
  /** `redis://` or `rediss://` URL. Logged only with its password redacted. */
  readonly url: string;
  /**
   * Longest any command may take, ms. Past it the command fails with a timeout error instead of
   * waiting; this is what keeps alert and cache paths from hanging on a dead Redis.
   */
  readonly commandTimeoutMs: number;
  /** `CLIENT SETNAME` value, so `CLIENT LIST` tells perf-sidecar's connections apart. */
  readonly connectionName: string;
  /**
   * Whether ioredis itself enforces `commandTimeoutMs` on every command. Default true. A caller that
   * bounds each command with its own timer passes false: ioredis's per-command timeout measured
   * about 40 µs per command on this project's machine (GET 118 µs instead of 78 µs).
   */
  readonly perCommandTimeout?: boolean;
  /** Longest pause between reconnect attempts, ms. Default 2000. */
  readonly maxReconnectDelayMs?: number;
  /**
   * Whether the connection (and its reconnect timer) keeps the process alive. Default true. The
   * telemetry's own connections pass false: a monitored program must exit when its own work is
   * done, as it would without perf-sidecar.
   */
  readonly keepProcessAlive?: boolean;
  /** Where connection errors and reconnects are logged. Default: perf-sidecar's logger at creation. */
  readonly logger?: Logger;
}

/** Clients being closed on purpose: their last errors (aborted handshakes) are not news. */
const closing = new WeakSet<RedisClient>();

/** How often a connection's repeated errors are logged at most, ms. */
const ERROR_LOG_INTERVAL_MS = 30_000;

/**
 * Creates an ioredis client that fails fast while Redis is away: no offline queue (commands issued
 * while disconnected fail at once), no per-command retries, a command timeout, and reconnection
 * with capped exponential backoff. Connection errors are logged at most every 30 s, with the URL
 * redacted.
 */
export async function createRedisClient(options: RedisClientOptions): Promise<Redis> {
  const { Redis: RedisClass } = await importPeer('ioredis', () => import('ioredis'));
  const maxDelay = options.maxReconnectDelayMs ?? 2000;
  const client = new RedisClass(options.url, {
    connectionName: options.connectionName,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.perCommandTimeout === false ? undefined : options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs * 2, 1000),
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
  });
  const log = options.logger ?? getLogger();
  const errors = logErrors(client, options, 'redis connection error (repeats are silenced for 30 s)');
  if (options.keepProcessAlive === false) {
    client.on('connect', () => client.stream?.unref?.());
    client.on('reconnecting', () => {
      // ioredis assigns its reconnect timer right after emitting 'reconnecting'; it has no public
      // handle, so it is unref'd on the next tick through the (stable since v4) field name.
      setImmediate(() =>
        (client as unknown as { reconnectTimeout?: NodeJS.Timeout | null }).reconnectTimeout?.unref(),
      );
    });
  }
  client.on('ready', () => {
    if (errors.reset()) {
      log.info({ redis: redactUrl(options.url), connection: options.connectionName }, 'redis reconnected');
    }
  });
  return client;
}

/**
 * {@link createRedisClient} for a Redis Cluster: `options.url` is one seed node (the others are
 * discovered); its user, password and TLS apply to every node. Same fail-fast settings per node.
 */
export async function createClusterClient(options: RedisClientOptions): Promise<Cluster> {
  const { Cluster: ClusterClass } = await importPeer('ioredis', () => import('ioredis'));
  const maxDelay = options.maxReconnectDelayMs ?? 2000;
  const url = new URL(options.url);
  const client = new ClusterClass([{ host: url.hostname, port: Number(url.port || 6379) }], {
    enableOfflineQueue: false,
    clusterRetryStrategy: (attempt: number) => Math.min(50 * 2 ** Math.min(attempt, 10), maxDelay),
    redisOptions: {
      connectionName: options.connectionName,
      maxRetriesPerRequest: 0,
      commandTimeout: options.perCommandTimeout === false ? undefined : options.commandTimeoutMs,
      connectTimeout: Math.max(options.commandTimeoutMs * 2, 1000),
      autoResendUnfulfilledCommands: false,
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  });
  logErrors(client, options, 'redis cluster connection error (repeats are silenced for 30 s)');
  if (options.keepProcessAlive === false) {
    // Each node has its own connection: none of them keeps a monitored program alive.
    client.on('+node', (node: Redis) => node.on('connect', () => node.stream?.unref?.()));
  }
  return client;
}

/**
 * Logs a client's connection errors, at most every {@link ERROR_LOG_INTERVAL_MS}, with the URL
 * redacted (without an 'error' listener ioredis prints every reconnect failure as an unhandled
 * error). `reset()` says whether an error was logged since the last reset, and forgets it.
 */
function logErrors(client: RedisClient, options: RedisClientOptions, message: string): { reset(): boolean } {
  const log = options.logger ?? getLogger();
  let lastLogged = 0;
  client.on('error', (error: Error) => {
    if (closing.has(client)) return;
    const now = Date.now();
    if (now - lastLogged < ERROR_LOG_INTERVAL_MS) return;
    lastLogged = now;
    log.warn(
      { redis: redactUrl(options.url), connection: options.connectionName, err: error.message },
      message,
    );
  });
  return {
    reset() {
      const logged = lastLogged !== 0;
      lastLogged = 0;
      return logged;
    },
  };
}

/** Closes a client: QUIT when connected (bounded by the command timeout), else disconnect. */
export async function closeRedisClient(client: RedisClient): Promise<void> {
  if (client.status === 'end') return;
  closing.add(client);
  if (client.status === 'ready') {
    try {
      await client.quit();
      return;
    } catch {
      // Fall through: a QUIT that times out still must not leave the socket open.
    }
  }
  client.disconnect(false);
}
