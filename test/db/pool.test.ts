/**
 * The pool against the real PostgreSQL: the settings mapping, exhaustion (error text, alert, metric)
 * and that nothing leaks afterwards, and pre-ping replacing connections the server closed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { alertRecordSchema } from '../../src/alerts/index.ts';
import { loadConfig } from '../../src/config.ts';
import {
  configuredDatabaseOptions,
  createDatabase,
  type Database,
  PoolExhaustedError,
} from '../../src/db/index.ts';
import { resolveDatabaseSettings } from '../../src/db/options.ts';
import { poolConfig } from '../../src/db/pool.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { admin, alertOptionsOf, createUsers, dropSchema, testDatabase, uniqueSchema } from '../helpers/db.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let db: Database | undefined;
let t: TestTelemetry | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  await t?.cleanup();
  t = undefined;
});

describe('pool settings', () => {
  it('maps the SQLAlchemy settings onto pg: max = size + overflow, min = size, timeout, recycle', () => {
    const url = 'postgresql://app:pw@db.internal:6543/arch';
    const config = poolConfig(resolveDatabaseSettings({ url }), url);
    expect(config).toMatchObject({
      connectionString: url,
      host: 'db.internal',
      port: 6543,
      database: 'arch',
      max: 50,
      min: 20,
      connectionTimeoutMillis: 30_000,
      maxLifetimeSeconds: 3600,
      idleTimeoutMillis: 10_000,
      application_name: 'perf-sidecar',
      pipeline: true,
    });
    expect(config.statement_timeout).toBeUndefined();
    const env = loadConfig({
      DB_POOL_SIZE: '5',
      DB_MAX_OVERFLOW: '0',
      DB_POOL_TIMEOUT: '0.0001',
      DB_POOL_RECYCLE: '60',
    });
    const settings = resolveDatabaseSettings({
      ...configuredDatabaseOptions(env),
      statementTimeoutSeconds: 1.5,
    });
    expect(poolConfig(settings, url)).toMatchObject({
      max: 5,
      min: 5,
      // 0 would make pg wait forever: the smallest timeout is 1 ms.
      connectionTimeoutMillis: 1,
      maxLifetimeSeconds: 60,
      statement_timeout: 1500,
    });
  });

  it('refuses bad options, naming them', () => {
    const problems: [object, string][] = [
      [{ poolSize: 0 }, 'options.poolSize: is 0; expected an integer from 1 to 1000'],
      [{ maxOverflow: -1 }, 'options.maxOverflow: is -1; expected an integer from 0 to 1000'],
      [
        { poolTimeoutSeconds: 0 },
        'options.poolTimeoutSeconds: is 0; expected a number of seconds greater than 0, at most 3600',
      ],
      [
        { poolRecycleSeconds: 1.5 },
        'options.poolRecycleSeconds: is 1.5; expected an integer number of seconds from 1 to 604800',
      ],
      [
        { slowQuerySeconds: Number.NaN },
        'options.slowQuerySeconds: is NaN; expected a number of seconds greater than 0, at most 86400',
      ],
      [{ explainSlow: 'yes' }, 'options.explainSlow: is "yes"; expected true or false'],
      [
        { defaultLimit: 500, maxLimit: 100 },
        'options.defaultLimit: is 500; expected an integer from 1 to 100 (maxLimit)',
      ],
      [
        { applicationName: 'a\nb' },
        'options.applicationName: is "a\\nb"; expected 1 to 63 printable ASCII characters',
      ],
      [
        { embedded: { port: 70_000 } },
        'options.embedded.port: is 70000; expected an integer from 0 to 65535',
      ],
    ];
    for (const [options, message] of problems) {
      expect(() => resolveDatabaseSettings(options)).toThrow(InvalidArgumentError);
      expect(() => resolveDatabaseSettings(options)).toThrow(message);
    }
  });

  it('never echoes a bad URL, which may hold a password', async () => {
    const error = await rejectionOf(
      createDatabase({ url: 'mysql://root:hunter2@db/app' }),
      InvalidArgumentError,
    );
    expect(error.message).toBe(
      'options.url: the value has the unsupported scheme "mysql:"; expected postgresql://user:password@host:5432/database (postgres://, postgresql+asyncpg:// accepted)',
    );
    const unparsable = await rejectionOf(createDatabase({ url: 'hunter2 not a url' }), InvalidArgumentError);
    expect(unparsable.message).toMatch(/^options\.url: the value is not a URL \(value hidden/);
    expect(unparsable.message).not.toContain('hunter2');
  });

  it('opens the pool with the mapped settings', async () => {
    db = await testDatabase({ poolSize: 3, maxOverflow: 4 });
    expect(db.pool.options).toMatchObject({
      max: 7,
      min: 3,
      connectionTimeoutMillis: 30_000,
      maxLifetimeSeconds: 3600,
    });
    expect(db.poolStats()).toEqual({ total: 0, idle: 0, inUse: 0, waiting: 0, max: 7, min: 3 });
  });
});

describe('pool exhaustion', () => {
  const schema = uniqueSchema();
  const users = `${schema}.users`;
  beforeAll(() => createUsers(schema));
  afterAll(() => dropSchema(schema));

  it('fails with a PoolExhaustedError naming size, overflow, in-use, waiting and timeout, alerts, and leaks nothing', async () => {
    t = await startConnectedTelemetry();
    const tt = t;
    db = await testDatabase({
      ...alertOptionsOf(tt),
      poolSize: 1,
      maxOverflow: 1,
      poolTimeoutSeconds: 0.5,
      overflowIdleSeconds: 0.2,
      // The sleepers below are workload, not slow queries to alert on.
      slowQuerySeconds: 60,
    });
    const busy = db;
    // Workload that holds both connections (pool_size 1 + max_overflow 1).
    const sleepers = [busy.query('SELECT pg_sleep(2)'), busy.query('SELECT pg_sleep(2)')];
    await waitFor(() => busy.poolStats().inUse === 2, { what: 'both connections to be in use' });

    const exhausted = await rejectionOf(
      busy.getById(users, 1, { correlationId: 'req-exhausted' }),
      PoolExhaustedError,
    );
    expect(exhausted.code).toBe('PERF_DB_POOL_EXHAUSTED');
    expect(exhausted.message).toBe(
      'QueuePool limit of size 1 overflow 1 reached, connection timed out, timeout 0.50 s: 2 connections in use, 0 other requests waiting (raise DB_POOL_SIZE / DB_MAX_OVERFLOW, or release connections sooner)',
    );
    expect(exhausted.pool).toEqual({
      poolSize: 1,
      maxOverflow: 1,
      inUse: 2,
      waiting: 0,
      timeoutSeconds: 0.5,
    });
    expect(busy.stats().poolTimeouts).toBe(1);

    await Promise.all(sleepers);
    // Nothing leaked: no waiters, nothing checked out, and the overflow connection closed again.
    await waitFor(
      () => {
        const s = busy.poolStats();
        return s.waiting === 0 && s.inUse === 0 && s.idle === 1 && s.total === 1;
      },
      { what: `the pool back to its minimum (now ${JSON.stringify(busy.poolStats())})` },
    );
    expect(await busy.getById(users, 0)).toBeUndefined();

    await tt.telemetry.alerts.flush();
    const records = (await tt.list(tt.performanceList)).map((r) => alertRecordSchema.parse(r));
    expect(records).toHaveLength(1);
    const [alert] = records;
    expect(alert?.type).toBe('slow_query');
    expect(alert?.labels).toEqual({
      alertname: 'SlowQuery',
      service: 'perf-sidecar',
      operation: `getById ${users}`,
      reason: 'pool_exhausted',
    });
    expect(alert?.annotations.summary).toBe(`Database pool exhausted: ${exhausted.message}`);
    expect(alert?.threshold).toBe(0.5);
    expect(alert?.correlation_id).toBe('req-exhausted');
    const span = (await tt.finishedSpans()).find((s) => s.name === `getById ${users}` && s.status.code === 2);
    expect(alert?.trace?.trace_id).toBe(span?.spanContext().traceId);
    expect(span?.attributes['error.type']).toBe('PERF_DB_POOL_EXHAUSTED');

    const metrics = await tt.telemetry.renderPrometheus();
    const pool = 'db_client_connection_pool_name="127\\.0\\.0\\.1:5432/test"';
    expect(metrics).toMatch(new RegExp(`^db_client_connection_timeouts_total\\{${pool},[^}]*\\} 1$`, 'm'));
    expect(metrics).toMatch(
      new RegExp(`^db_client_connection_wait_time_seconds_count\\{${pool},[^}]*\\} [1-9]\\d*$`, 'm'),
    );
    expect(metrics).toMatch(
      new RegExp(`^perf_db_pool_connections\\{${pool},db_client_connection_state="idle",[^}]*\\} 1$`, 'm'),
    );
    expect(metrics).toMatch(new RegExp(`^perf_db_pool_waiting\\{${pool},[^}]*\\} 0$`, 'm'));
  });
});

describe('health and figures of an exhausted pool', () => {
  const schema = uniqueSchema();
  const users = `${schema}.users`;
  beforeAll(() => createUsers(schema));
  afterAll(() => dropSchema(schema));

  it('reports an exhausted pool as warn with the real figures, instead of timing out as fail', async () => {
    // A pool timeout far above the health timeout: a pooled health ping would time out first.
    db = await testDatabase({ poolSize: 1, maxOverflow: 0, poolTimeoutSeconds: 60, healthTimeoutSeconds: 2 });
    const busy = db;
    const held = await busy.pool.connect();
    const waiting = [busy.query('SELECT 1'), busy.query('SELECT 2'), busy.query('SELECT 3')];
    try {
      await waitFor(() => busy.poolStats().waiting === 3, { what: 'three requests waiting' });
      const health = await busy.getHealthStatus();
      expect(health).toMatchObject({
        status: 'warn',
        pool: { total: 1, idle: 0, inUse: 1, waiting: 3, max: 1, min: 1 },
        warning: 'the pool is exhausted: 1 of 1 connections in use, 3 requests waiting for one',
      });
      expect(health.error).toBeUndefined();
      expect(health.latencyMs).toBeTypeOf('number');
      expect(health.connection_pool).toBe(health.pool);
    } finally {
      held.release();
    }
    await Promise.all(waiting);
    const after = await busy.getHealthStatus();
    expect(after).toMatchObject({ status: 'pass', pool: { inUse: 0, waiting: 0 } });
    expect(after.warning).toBeUndefined();
  });

  it('counts every lookup waiting on a cold catalogue read, in the figures and in the error', async () => {
    db = await testDatabase({ poolSize: 1, maxOverflow: 0, poolTimeoutSeconds: 3, slowQuerySeconds: 60 });
    const busy = db;
    const held = await busy.pool.connect();
    try {
      // Five lookups of a table not yet in the catalogue: they share one catalogue read.
      const lookups = Array.from({ length: 5 }, (_, i) =>
        rejectionOf(busy.getById(users, i + 1), PoolExhaustedError),
      );
      await waitFor(() => busy.poolStats().waiting === 5, {
        what: `five requests counted as waiting (now ${JSON.stringify(busy.poolStats())})`,
      });
      const health = await busy.getHealthStatus();
      expect(health.status).toBe('warn');
      expect(health.pool).toMatchObject({ inUse: 1, waiting: 5 });
      const errors = await Promise.all(lookups);
      for (const error of errors) {
        expect(error.pool).toMatchObject({ inUse: 1, waiting: 4 });
        expect(error.message).toContain('1 connections in use, 4 other requests waiting');
      }
    } finally {
      held.release();
    }
    expect(busy.poolStats()).toMatchObject({ inUse: 0, waiting: 0 });
  });
});

describe('connections handed back, and close()', () => {
  it('destroys a connection handed back inside a transaction instead of reusing it', async () => {
    db = await testDatabase({ poolSize: 1, maxOverflow: 0 });
    const pidOf = async () =>
      (await (db as Database).query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    const first = await pidOf();
    expect(await pidOf()).toBe(first);
    // Two statements in one text (simple protocol): the second leaves the connection in a transaction.
    const result = await db.query('SELECT 1 AS one; BEGIN');
    expect(result.command).toBe('BEGIN');
    const next = await pidOf();
    expect(next).not.toBe(first);
    const sessions = await waitFor(
      async () => {
        const { rows } = await admin((c) =>
          c.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = $1', [first]),
        );
        return rows[0]?.n === 0 ? rows : undefined;
      },
      { what: 'the backend left in a transaction to end' },
    );
    expect(sessions).toEqual([{ n: 0 }]);
    // What runs next is not inside the abandoned transaction.
    expect((await db.query('SELECT pg_catalog.txid_current_if_assigned() AS tx')).rows[0]?.tx).toBeNull();
  });

  it('close() waits at most closeTimeoutSeconds for a connection that is never handed back', async () => {
    db = await testDatabase({ poolSize: 1, maxOverflow: 0, closeTimeoutSeconds: 0.2 });
    const held = await db.pool.connect();
    let closed = false;
    const closing = db.close().then(() => {
      closed = true;
    });
    try {
      // Far below the 10 s default: only the configured deadline can end the wait this soon.
      await waitFor(() => closed, { what: 'close() to resolve while a connection is held', timeoutMs: 5000 });
      expect(closed).toBe(true);
    } finally {
      held.release();
      await closing;
    }
    expect(resolveDatabaseSettings({}).closeTimeoutSeconds).toBe(10);
  });
});

describe('pre-ping', () => {
  it('validates connections idle past the threshold and replaces one the server closed', async () => {
    db = await testDatabase({ poolSize: 1, maxOverflow: 0, prePingIdleSeconds: 0 });
    const first = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(db.stats().prePings).toBe(0);
    const again = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(again.rows[0]?.pid).toBe(first.rows[0]?.pid);
    expect(db.stats().prePings).toBe(1);

    await admin((c) => c.query('SELECT pg_terminate_backend($1)', [first.rows[0]?.pid]));
    const after = await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    expect(after.rows[0]?.pid).not.toBe(first.rows[0]?.pid);
    expect(db.poolStats()).toMatchObject({ total: 1, inUse: 0, waiting: 0 });
  });
});
