/**
 * In-process telemetry for tests: the real SDK and target processor, an in-memory span exporter,
 * alerts in the real Redis under a prefix of the test's own.
 */
import { randomUUID } from 'node:crypto';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace';
import { Redis } from 'ioredis';
import { loadConfig } from '../../src/config.ts';
import {
  startTelemetry,
  stopTelemetry,
  type Telemetry,
  type TelemetryOptions,
} from '../../src/telemetry/index.ts';
import { TEST_REDIS_URL } from './env.ts';
import { waitFor } from './wait.ts';

/** A started telemetry plus what a test needs to look at its output. */
export interface TestTelemetry {
  readonly telemetry: Telemetry;
  readonly spans: InMemorySpanExporter;
  /** Finished spans, once every span ended so far has been through the exporter. */
  finishedSpans(): Promise<ReadableSpan[]>;
  /** Prefix of this test's alert lists. */
  readonly prefix: string;
  /** A plain client on the test Redis, for reading lists. */
  readonly redis: Redis;
  /** Full name of the performance alert list. */
  readonly performanceList: string;
  /** Parsed records of a list, newest first. */
  list(name: string): Promise<Record<string, unknown>[]>;
  /** Shuts telemetry down and deletes the test's keys. */
  cleanup(): Promise<void>;
}

/**
 * Starts telemetry with `env` as its environment (REDIS_URL defaults to the test Redis; pass
 * `REDIS_URL: ''` for memory-only mode).
 */
export async function startTestTelemetry(
  env: Record<string, string> = {},
  options: Partial<TelemetryOptions> = {},
): Promise<TestTelemetry> {
  const prefix = `perf-test:${randomUUID()}:`;
  const config = loadConfig({
    REDIS_URL: TEST_REDIS_URL,
    ALERT_KEY_PREFIX: prefix,
    LOG_LEVEL: 'warn',
    // In process, the main module is vitest: name the service as the tests expect it.
    OTEL_SERVICE_NAME: 'perf-sidecar',
    ...env,
  });
  const spans = new InMemorySpanExporter();
  // SimpleSpanProcessor exports once the resource's detected attributes have settled, so reading
  // spans goes through forceFlush.
  const processor = new SimpleSpanProcessor({ exporter: spans });
  const telemetry = startTelemetry({
    config,
    instrumentations: [],
    spanProcessors: [processor],
    ...options,
  });
  // Reads go to the Redis the alerts go to (the test's own server in fault tests).
  const redis = new Redis(env.REDIS_URL || TEST_REDIS_URL);
  redis.on('error', () => undefined);
  const list = async (name: string) =>
    (await redis.lrange(name, 0, -1)).map((text) => JSON.parse(text) as Record<string, unknown>);
  return {
    telemetry,
    spans,
    async finishedSpans() {
      await processor.forceFlush();
      return spans.getFinishedSpans();
    },
    prefix,
    redis,
    performanceList: `${prefix}performance_alerts`,
    list,
    async cleanup() {
      await stopTelemetry();
      if (redis.status === 'ready') await deleteKeys(redis, prefix);
      redis.disconnect();
    },
  };
}

/** {@link startTestTelemetry}, returning once the alert store has connected. */
export async function startConnectedTelemetry(
  env: Record<string, string> = {},
  options: Partial<TelemetryOptions> = {},
): Promise<TestTelemetry> {
  const t = await startTestTelemetry(env, options);
  await waitFor(() => t.telemetry.alerts.available, { what: 'the alert store to connect' });
  return t;
}

/** Deletes every Redis key under a test's prefix. */
export async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
}

/** Resolves after `ms` of real work time: the workload of an operation, never a wait for a condition. */
export function busyFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
