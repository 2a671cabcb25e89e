/**
 * The invalidation bus: a Redis pub/sub subscription on a connection of its own. Publishing is done
 * by the Redis driver's scripts, in the same atomic step as the change they announce; this side
 * only listens.
 *
 * Redis pub/sub delivers every message published while a subscriber is connected, in order, and
 * nothing published while it is not. So knowledge kept since the last successful SUBSCRIBE is
 * complete; after a reconnect it is not, and the handler is told to forget (`onSubscribed`).
 *
 * On a Redis Cluster classic pub/sub reaches subscribers on every node, so the subscription may live
 * on any node: ioredis's `Cluster` keeps it on one node's connection and, when that connection
 * ends, moves it to another node without an event. The bus watches that connection so that a move
 * counts as a reconnect (see {@link RedisBus}).
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { errorText } from '../../shared/errors.ts';
import { closeRedisClient, isCluster, type RedisClient } from '../../shared/redis.ts';
import { untraced } from '../../shared/tracing.ts';
import { type BusMessage, parseBusMessage } from './messages.ts';

/** What the bus tells its cache. */
export interface BusHandler {
  /** A (re)subscription succeeded: anything learnt before it may be incomplete. */
  onSubscribed(): void;
  /** A message from another instance. */
  onMessage(message: BusMessage): void;
  /** A message arrived that could not be read (too large or malformed). */
  onUnreadable(): void;
}

/** The bus as the cache sees it (a fault-injecting wrapper in tests can stand in for {@link RedisBus}). */
export interface CacheBus {
  /** Whether the subscription is live: every invalidation published now will arrive. */
  readonly connected: boolean;
  /** Number of successful subscriptions so far; knowledge from an older epoch may be incomplete. */
  readonly epoch: number;
  /** Messages from other instances received. */
  readonly received: number;
  /** Stops listening and closes the connection. */
  close(): Promise<void>;
}

/** Options of {@link RedisBus}. */
export interface RedisBusOptions {
  /** The subscriber connection (owned and closed by the bus), or a promise of it: a `Redis` or a `Cluster`. */
  readonly client: Promise<RedisClient>;
  /** Channel to listen on. */
  readonly channel: string;
  /** Id of this cache instance: its own messages are ignored. */
  readonly sender: string;
  /** Largest message read, characters. */
  readonly maxMessageBytes: number;
  /** Receiver of events. */
  readonly handler: BusHandler;
  /** Where the bus's own log lines go. */
  readonly logger: Logger;
}

/** Longest pause between attempts to subscribe again on a cluster, ms. */
const CLUSTER_RETRY_MAX_MS = 2000;

/** The part of ioredis's `Cluster` internals that holds the subscription's connection (not typed by ioredis). */
interface ClusterSubscriberHolder {
  readonly subscriber?: { getInstance?: () => EventEmitter | null };
}

/** See the module comment. */
export class RedisBus implements CacheBus {
  #client: RedisClient | undefined;
  /** On a cluster: the node connection that holds the subscription, watched for its end. */
  #watched: EventEmitter | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #retries = 0;
  #subscribed = false;
  #epoch = 0;
  #received = 0;
  #closed = false;
  readonly #options: RedisBusOptions;
  readonly #created: Promise<void>;

  constructor(options: RedisBusOptions) {
    this.#options = options;
    this.#created = options.client.then(
      (client) => {
        this.#client = client;
        client.on('message', (channel: string, text: string) => this.#onText(channel, text));
        client.on('ready', () => void this.#subscribe());
        client.on('close', () => {
          this.#subscribed = false;
        });
        if (client.status === 'ready') void this.#subscribe();
      },
      (error: unknown) => {
        options.logger.error(
          { err: errorText(error) },
          'cache bus could not create its Redis connection; memory caches are not kept coherent',
        );
      },
    );
  }

  /** Whether the subscription is live: every invalidation published now will arrive. */
  get connected(): boolean {
    return this.#subscribed;
  }

  /** Number of successful subscriptions so far; knowledge from an older epoch may be incomplete. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Messages from other instances received. */
  get received(): number {
    return this.#received;
  }

  async #subscribe(): Promise<void> {
    const client = this.#client;
    if (!client || this.#closed) return;
    try {
      await untraced(() => client.subscribe(this.#options.channel));
    } catch (error) {
      // The connection dropped again before the subscription took; the next 'ready' retries (on a
      // cluster, whose 'ready' does not come again when one node goes, a timer does).
      this.#options.logger.debug({ err: errorText(error) }, 'cache bus subscribe failed');
      if (isCluster(client)) this.#retryLater();
      return;
    }
    if (this.#closed) return;
    this.#retries = 0;
    if (isCluster(client)) this.#watchSubscriber(client);
    this.#subscribed = true;
    this.#epoch++;
    this.#options.handler.onSubscribed();
  }

  /**
   * Watches the cluster node connection that now holds the subscription: when it ends, ioredis
   * subscribes on another node, and what was published in between is lost, so the bus subscribes
   * again (the command goes to the new connection and answers once the move is done) and counts it
   * as a new subscription. Uses ioredis's untyped `subscriber.getInstance()`; without it (another
   * ioredis version) only the cluster's own 'close' and 'ready' are seen.
   */
  #watchSubscriber(client: RedisClient): void {
    const instance = (client as unknown as ClusterSubscriberHolder).subscriber?.getInstance?.() ?? undefined;
    if (instance === undefined || instance === this.#watched) return;
    this.#watched = instance;
    instance.once('end', () => {
      if (this.#watched !== instance || this.#closed) return;
      this.#watched = undefined;
      this.#subscribed = false;
      void this.#subscribe();
    });
  }

  /** Subscribes again after a capped, growing pause (a cluster with no node to subscribe on yet). */
  #retryLater(): void {
    if (this.#closed || this.#retryTimer !== undefined) return;
    const delay = Math.min(50 * 2 ** Math.min(this.#retries++, 10), CLUSTER_RETRY_MAX_MS);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      if (!this.#subscribed) void this.#subscribe();
    }, delay);
    this.#retryTimer.unref();
  }

  #onText(channel: string, text: string): void {
    if (channel !== this.#options.channel) return;
    if (text.length > this.#options.maxMessageBytes) {
      this.#options.handler.onUnreadable();
      return;
    }
    const message = parseBusMessage(text);
    if (!message) {
      this.#options.handler.onUnreadable();
      return;
    }
    if (message.sender === this.#options.sender) return;
    this.#received++;
    this.#options.handler.onMessage(message);
  }

  /** Stops listening and closes the connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#subscribed = false;
    clearTimeout(this.#retryTimer);
    await this.#created;
    if (this.#client) await closeRedisClient(this.#client);
  }
}
