/**
 * The preload entry, proven the way users use it: a child process started with
 * `node --import perf-sidecar/register app.mjs` (the built package, resolved by its own name).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRecordSchema } from '../src/alerts/index.ts';
import { type AppRun, runFixture } from './helpers/child.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL, withPassword } from './helpers/env.ts';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.ts';
import { deleteKeys } from './helpers/telemetry.ts';

const SECRET = 's3cr3t-fixture-pw';

interface FixtureOut {
  traceId: string;
  spanId: string;
  answer: number;
  metrics: string;
}

function runApp(env: Record<string, string>, args: string[] = []): Promise<AppRun<FixtureOut>> {
  return runFixture<FixtureOut>('instrumented-app.mjs', env, args);
}

describe('node --import perf-sidecar/register', () => {
  let receiver: OtlpReceiver;
  let redis: Redis;
  let run: AppRun<FixtureOut>;
  const prefix = `perf-test:${randomUUID()}:`;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    redis = new Redis(TEST_REDIS_URL);
    run = await runApp(
      {
        DATABASE_URL: withPassword(TEST_DATABASE_URL, SECRET),
        APP_REDIS_URL: TEST_REDIS_URL,
        REDIS_URL: TEST_REDIS_URL,
        ALERT_KEY_PREFIX: prefix,
        OTEL_SERVICE_NAME: 'fixture-app',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      },
      [`--token=${SECRET}`],
    );
  }, 90_000);

  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
    await receiver.close();
  });

  function spansOf(scope: string): ReceivedSpan[] {
    return receiver.spans.filter((s) => s.scope === scope);
  }

  it('runs the app to completion', () => {
    expect(run.stderr).not.toMatch(/Error/);
    expect(run.status).toBe(0);
    expect(run.out?.answer).toBe(42);
  });

  it('exports the tracked operation with its target and the service name', () => {
    const [operation] = receiver.spans.filter((s) => s.name === 'fixture_request');
    expect(operation).toBeDefined();
    expect(operation?.traceId).toBe(run.out?.traceId);
    expect(operation?.attributes['perf.target_seconds']).toBe(0.000001);
    expect(operation?.attributes['perf.target_exceeded']).toBe(true);
    expect(operation?.attributes['correlation.id']).toBe('fixture-1');
    expect(operation?.resource['service.name']).toBe('fixture-app');
  });

  it('makes exactly one pg span for the query, a child of the operation, without parameter values', () => {
    const queries = spansOf('@opentelemetry/instrumentation-pg').filter(
      (s) => s.attributes['db.query.text'] !== undefined,
    );
    expect(queries).toHaveLength(1);
    const [query] = queries;
    expect(query?.attributes['db.query.text']).toBe('SELECT $1::int + 1 AS answer');
    expect(query?.attributes['db.system.name']).toBe('postgresql');
    expect(query?.traceId).toBe(run.out?.traceId);
    expect(query?.parentSpanId).toBe(run.out?.spanId);
    expect(JSON.stringify(query?.attributes)).not.toContain('41');
  });

  it('makes exactly one ioredis span for the SET, a child of the operation', () => {
    const commands = spansOf('@opentelemetry/instrumentation-ioredis');
    const sets = commands.filter((s) => s.name === 'set');
    expect(sets).toHaveLength(1);
    expect(sets[0]?.parentSpanId).toBe(run.out?.spanId);
    // perf-sidecar's own alert writes are suppressed: no MULTI/LPUSH spans.
    expect(commands.filter((s) => /^(multi|lpush|ltrim|exec)$/i.test(s.name))).toEqual([]);
  });

  it('puts the pg metrics in the Prometheus output', () => {
    expect(run.out?.metrics).toMatch(
      /^db_client_operation_duration_seconds_bucket\{.*db_system_name="postgresql"/m,
    );
    expect(run.out?.metrics).toMatch(/^db_client_connections\{/m);
    expect(run.out?.metrics).toMatch(
      /^perf_operation_duration_seconds_count\{.*perf_operation="fixture_request"/m,
    );
  });

  it('writes the breach alert to Redis with the trace id', async () => {
    const entries = await redis.lrange(`${prefix}performance_alerts`, 0, -1);
    expect(entries).toHaveLength(1);
    const alert = alertRecordSchema.parse(JSON.parse(entries[0] ?? ''));
    expect(alert.labels).toMatchObject({ service: 'fixture-app', operation: 'fixture_request' });
    expect(alert.trace?.trace_id).toBe(run.out?.traceId);
    expect(alert.correlation_id).toBe('fixture-1');
  });

  it('never lets the password or the command line leak into spans, metrics or logs', () => {
    const everything = [run.stdout, run.stderr, run.out?.metrics ?? '', ...receiver.bodies].join('\n');
    expect(everything.length).toBeGreaterThan(1000);
    expect(everything).not.toContain(SECRET);
    const resource = receiver.spans[0]?.resource ?? {};
    expect(resource['process.command_args']).toBeUndefined();
    expect(resource['process.pid']).toBeTypeOf('number');
  });
});

describe('node --import perf-sidecar/register with a bad configuration', () => {
  it('stops with exit code 1 and one message naming the variable, without the password', async () => {
    const run = await runApp({ DB_POOL_SIZE: 'lots', DATABASE_URL: `mysql://root:${SECRET}@db/app` });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('perf-sidecar configuration is invalid:');
    expect(run.stderr).toContain(
      'DB_POOL_SIZE: "lots" is not a whole number; expected an integer from 1 to 1000',
    );
    expect(run.stderr).toContain('DATABASE_URL: the value has the unsupported scheme "mysql:"');
    expect(run.stderr).not.toContain(SECRET);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    expect(run.out).toBeUndefined();
  });
});
