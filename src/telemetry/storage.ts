/**
 * Where telemetry keeps what it keeps: the Redis connection (given, or made from `REDIS_URL`), the
 * alert store and sink, and the rollups of the per-minute windows. Each builder takes what it needs
 * and makes one part.
 */

import type { Meter } from '@opentelemetry/api';
import { AlertSink, type AlertStore, MemoryAlertStore, RedisAlertStore } from '../alerts/index.ts';
import type { PerfSidecarConfig } from '../config.ts';
import { assertPeerInstalled } from '../shared/peers.ts';
import { createClusterClient, createRedisClient, type RedisClient } from '../shared/redis.ts';
import { untraced } from '../shared/tracing.ts';
import type { BudgetLookup } from './rollup.ts';
import { RedisRollupStore } from './rollup.ts';
import { RollupExporter, type TargetOf } from './rollup-exporter.ts';

/** The Redis connection of a telemetry, when it has one. */
export interface TelemetryRedis {
  /** The client, or its promise while the preload waits for its hooks. */
  readonly client: RedisClient | Promise<RedisClient>;
  /** The connection telemetry made (and closes); `undefined` for a caller's client. */
  readonly owned: Promise<RedisClient> | undefined;
}

/**
 * The caller's client, else a connection to `REDIS_URL` made once `dependenciesReady` resolves (so
 * that the host's ioredis is instrumented), else `undefined` (memory-only mode).
 */
export function connectRedis(
  config: PerfSidecarConfig,
  given: RedisClient | undefined,
  dependenciesReady: Promise<unknown> | undefined,
): TelemetryRedis | undefined {
  if (given !== undefined) return { client: given, owned: undefined };
  const url = config.redisUrl;
  if (url === undefined) return undefined;
  // Said at start, not as a failed connection later: REDIS_URL needs the optional peer ioredis.
  assertPeerInstalled('ioredis');
  const settings = {
    url,
    commandTimeoutMs: config.redisCommandTimeoutMs,
    connectionName: 'perf-sidecar:telemetry',
    keepProcessAlive: false,
  };
  const owned = Promise.resolve(dependenciesReady).then(
    (): Promise<RedisClient> =>
      config.redisCluster ? createClusterClient(settings) : createRedisClient(settings),
  );
  // Reported by the alert store; without this the rejection would also be unhandled here.
  owned.catch(() => undefined);
  return { client: owned, owned };
}

/** Round trip of a Redis `PING` on the connection, ms; rejects when Redis is not reachable. */
export async function pingRedis(redis: TelemetryRedis): Promise<number> {
  const client = await redis.client;
  if (client.status !== 'ready') throw new Error(`redis connection is ${client.status}`);
  const started = performance.now();
  await untraced(() => client.ping());
  return performance.now() - started;
}

/**
 * The alert sink over the caller's store, else the Redis lists, else memory. `meter` is the SDK's
 * (the sink's counters); without one the sink takes the global meter.
 */
export function buildAlerts(
  config: PerfSidecarConfig,
  custom: AlertStore | undefined,
  redis: TelemetryRedis | undefined,
  meter: Meter | undefined,
): AlertSink {
  let store: AlertStore;
  if (custom) store = custom;
  else if (redis === undefined) store = new MemoryAlertStore(config.alerts.listMax);
  // The connection is shared with the rollups and closed by stopTelemetry, not by the store.
  else
    store = new RedisAlertStore({ client: redis.client, listMax: config.alerts.listMax, ownsClient: false });
  return new AlertSink({
    store,
    repeatSeconds: config.alerts.repeatSeconds,
    bufferMax: config.alerts.bufferMax,
    keyPrefix: config.alerts.keyPrefix,
    ...(meter ? { meter } : {}),
  });
}

/** The rollups of the windows: the store reports read and the exporter that writes to it. */
export interface Rollups {
  readonly store: RedisRollupStore;
  readonly exporter: RollupExporter;
}

/**
 * The Redis rollups, when telemetry has Redis. `targetOf` gives the target written with an operation
 * of a service (`undefined`: the own one).
 */
export function buildRollups(
  config: PerfSidecarConfig,
  redis: TelemetryRedis | undefined,
  targetOf: TargetOf,
  budgets?: BudgetLookup,
): Rollups | undefined {
  if (redis === undefined) return undefined;
  const store = new RedisRollupStore({
    client: redis.client,
    keyPrefix: config.alerts.keyPrefix,
    retentionDays: config.summary.rollupRetentionDays,
    maxOperations: config.maxOperations + 1,
    maxServices: config.ingest.maxServices + 1,
    ...(budgets ? { budgets } : {}),
  });
  return {
    store,
    exporter: new RollupExporter({ writer: store, maxPoints: config.summary.maxPoints, targetOf }),
  };
}
