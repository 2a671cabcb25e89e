/**
 * The database service inside a host application started the way users start one,
 * `node --import perf-sidecar/register db-app.mjs`: its spans are exported over OTLP and the pg
 * instrumentation's spans nest under them; slow queries reach the Redis alert list.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertRecordSchema } from '../../src/alerts/index.ts';
import type { DatabaseHealth } from '../../src/db/index.ts';
import { type AppRun, runFixture } from '../helpers/child.ts';
import { dropSchema, uniqueSchema } from '../helpers/db.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL, withPassword } from '../helpers/env.ts';
import { OtlpReceiver, type ReceivedSpan } from '../helpers/otlp-receiver.ts';
import { deleteKeys } from '../helpers/telemetry.ts';

const SECRET = 's3cr3t-db-fixture-pw';
const PG_SCOPE = '@opentelemetry/instrumentation-pg';

interface DbAppOut {
  user: { id: number; name: string };
  traceId: string;
  spanId: string;
  health: DatabaseHealth;
  metrics: string;
}

describe('the database service under node --import perf-sidecar/register', () => {
  let receiver: OtlpReceiver;
  let redis: Redis;
  let run: AppRun<DbAppOut>;
  const prefix = `perf-test:${randomUUID()}:`;
  const schema = uniqueSchema();
  const marker = `marker-${randomUUID()}`;

  beforeAll(async () => {
    receiver = await OtlpReceiver.start();
    redis = new Redis(TEST_REDIS_URL);
    run = await runFixture<DbAppOut>('db-app.mjs', {
      DATABASE_URL: withPassword(TEST_DATABASE_URL, SECRET),
      DB_POOL_SIZE: '2',
      DB_MAX_OVERFLOW: '1',
      DB_SLOW_QUERY_SECONDS: '0.1',
      REDIS_URL: TEST_REDIS_URL,
      ALERT_KEY_PREFIX: prefix,
      OTEL_SERVICE_NAME: 'db-fixture',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      FIXTURE_SCHEMA: schema,
      FIXTURE_MARKER: marker,
    });
  }, 90_000);

  afterAll(async () => {
    await deleteKeys(redis, prefix);
    await redis.quit();
    await receiver.close();
    await dropSchema(schema);
  });

  function serviceSpan(name: string, statement?: string): ReceivedSpan {
    const found = receiver.spans.filter(
      (s) =>
        s.scope === 'perf-sidecar' &&
        s.name === name &&
        (statement === undefined || s.attributes['db.query.text'] === statement),
    );
    expect(found).toHaveLength(1);
    return found[0] as ReceivedSpan;
  }

  it('runs the app to completion', () => {
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.out?.user).toEqual({ id: 1, name: 'ada' });
    expect(run.out?.health.status).toBe('pass');
  });

  it('nests the pg instrumentation spans under the service span, under the tracked operation', () => {
    const lookup = serviceSpan(`getById ${schema}.users`);
    expect(lookup.traceId).toBe(run.out?.traceId);
    expect(lookup.parentSpanId).toBe(run.out?.spanId);
    expect(lookup.attributes).toMatchObject({
      'db.operation.name': 'getById',
      'db.collection.name': `${schema}.users`,
      'db.system.name': 'postgresql',
      'correlation.id': 'fixture-db-1',
    });
    const children = receiver.spans.filter((s) => s.parentSpanId === lookup.spanId);
    const queries = children.filter(
      (s) => s.scope === PG_SCOPE && s.attributes['db.query.text'] !== undefined,
    );
    // One statement: the catalogue read runs untraced, as perf-sidecar's own housekeeping.
    expect(queries.map((s) => s.attributes['db.query.text'])).toEqual([
      `SELECT * FROM "${schema}"."users" WHERE "id" = $1 LIMIT 1`,
    ]);
    expect(children.some((s) => s.scope === PG_SCOPE && s.name === 'pg-pool.connect')).toBe(true);
    expect(children.every((s) => s.traceId === lookup.traceId)).toBe(true);
  });

  it('writes one slow_query alert for the slow statement, with its trace id and without parameter values', async () => {
    const slow = serviceSpan('query', 'SELECT pg_sleep($1), $2::text AS marker');
    expect(slow.attributes['perf.db.slow']).toBe(true);
    const slowQueries = receiver.spans.filter(
      (s) =>
        s.scope === PG_SCOPE && s.parentSpanId === slow.spanId && s.attributes['db.query.text'] !== undefined,
    );
    expect(slowQueries).toHaveLength(1);
    const entries = await redis.lrange(`${prefix}performance_alerts`, 0, -1);
    const alerts = entries
      .map((e) => alertRecordSchema.parse(JSON.parse(e)))
      .filter((a) => a.type === 'slow_query');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]?.labels).toMatchObject({ service: 'db-fixture', operation: 'query' });
    expect(alerts[0]?.annotations.statement).toBe('SELECT pg_sleep($1), $2::text AS marker');
    expect(alerts[0]?.trace?.trace_id).toBe(slow.traceId);
    expect(entries.join('\n')).not.toContain(marker);
  });

  it('exports the pool metrics next to the pg instrumentation metrics', () => {
    const metrics = run.out?.metrics ?? '';
    expect(metrics).toMatch(/^perf_db_pool_connections\{.*db_client_connection_state="idle"/m);
    expect(metrics).toMatch(/^db_client_connection_wait_time_seconds_bucket\{/m);
    expect(metrics).toMatch(/^db_client_operation_duration_seconds_bucket\{.*db_system_name="postgresql"/m);
  });

  it('never lets the password leak into spans, metrics, alerts, health or logs', async () => {
    const alerts = await redis.lrange(`${prefix}performance_alerts`, 0, -1);
    const everything = [run.stdout, run.stderr, JSON.stringify(run.out), ...receiver.bodies, ...alerts].join(
      '\n',
    );
    expect(everything.length).toBeGreaterThan(1000);
    expect(everything).toContain('***');
    expect(everything).not.toContain(SECRET);
  });
});

describe('loading perf-sidecar', () => {
  it('does not load pg until a database service is created, so the preload can instrument it', async () => {
    const run = await runFixture<{ afterRegister: boolean; afterImport: boolean; afterCreate: boolean }>(
      'pg-lazy.mjs',
      { DATABASE_URL: TEST_DATABASE_URL, LOG_LEVEL: 'warn' },
    );
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.out).toEqual({ afterRegister: false, afterImport: false, afterCreate: true });
  });
});
