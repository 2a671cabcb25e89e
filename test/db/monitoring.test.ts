/**
 * Monitoring against the real PostgreSQL and Redis: a span per call, slow-query alerts (statement
 * text, never parameter values; trace id), EXPLAIN plans on request, and no password anywhere.
 */
import { randomUUID } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AlertRecord, alertRecordSchema } from '../../src/alerts/index.ts';
import {
  createDatabase,
  type Database,
  type DatabaseOptions,
  DatabaseUnavailableError,
} from '../../src/db/index.ts';
import {
  admin,
  alertOptionsOf,
  createUsers,
  dropSchema,
  testDatabase,
  USERS,
  uniqueSchema,
} from '../helpers/db.ts';
import { TEST_DATABASE_URL, withPassword } from '../helpers/env.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

const schema = uniqueSchema();
const users = `${schema}.users`;
let db: Database | undefined;
let t: TestTelemetry | undefined;

beforeAll(async () => {
  await createUsers(schema);
  await admin(async (c) => {
    await c.query(
      `CREATE VIEW ${schema}.slow_view AS SELECT g AS id, true AS pause FROM generate_series(1, 1) g, pg_sleep(0.3)`,
    );
    await c.query(
      `CREATE TABLE ${schema}.log (id serial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())`,
    );
  });
});

afterAll(async () => {
  await dropSchema(schema);
});

afterEach(async () => {
  await db?.close();
  db = undefined;
  await t?.cleanup();
  t = undefined;
});

async function started(
  options: DatabaseOptions = {},
  env: Record<string, string> = {},
): Promise<{ tt: TestTelemetry; db: Database }> {
  t = await startConnectedTelemetry(env);
  const tt = t;
  db = await testDatabase({ ...alertOptionsOf(tt), poolSize: 2, maxOverflow: 0, ...options });
  return { tt, db };
}

async function slowAlerts(tt: TestTelemetry): Promise<AlertRecord[]> {
  await tt.telemetry.alerts.flush();
  return (await tt.list(tt.performanceList))
    .map((record) => alertRecordSchema.parse(record) as AlertRecord)
    .filter((record) => record.type === 'slow_query');
}

async function spansNamed(tt: TestTelemetry, name: string): Promise<ReadableSpan[]> {
  return (await tt.finishedSpans()).filter((span) => span.name === name);
}

describe('slow-query alerts', () => {
  it('a pg_sleep past the threshold raises exactly one slow_query alert with the trace id and no parameter values', async () => {
    const { tt, db } = await started({ slowQuerySeconds: 0.2 });
    const marker = `secret-marker-${randomUUID()}`;
    const result = await db.query<{ marker: string }>(
      'SELECT pg_sleep($1), $2::text AS marker',
      [0.4, marker],
      {
        correlationId: 'req-slow',
      },
    );
    expect(result.rows[0]?.marker).toBe(marker);

    const alerts = await slowAlerts(tt);
    expect(alerts).toHaveLength(1);
    const [alert] = alerts;
    const [span] = await spansNamed(tt, 'query');
    expect(alert?.labels).toEqual({
      alertname: 'SlowQuery',
      service: 'perf-sidecar',
      operation: 'query',
      statement_hash: span?.attributes['perf.db.statement_hash'],
    });
    expect(alert?.labels.statement_hash).toMatch(/^[0-9a-f]{16}$/);
    expect(alert?.annotations.statement).toBe('SELECT pg_sleep($1), $2::text AS marker');
    expect(alert?.annotations.summary).toMatch(
      /^Query took \d+\.\d{3} s, over the 0\.2 s slow-query threshold \(query\)\.$/,
    );
    expect(alert?.value).toBeGreaterThan(0.2);
    expect(alert?.threshold).toBe(0.2);
    expect(alert?.unit).toBe('s');
    expect(alert?.trace?.trace_id).toBe(span?.spanContext().traceId);
    expect(alert?.trace?.span_id).toBe(span?.spanContext().spanId);
    expect(alert?.correlation_id).toBe('req-slow');
    expect(JSON.stringify(alert)).not.toContain(marker);
    expect(span?.attributes['perf.db.slow']).toBe(true);
    expect(JSON.stringify(span?.attributes)).not.toContain(marker);
    expect(db.stats().slowQueries).toBe(1);
  });

  it('names the table of a slow lookup and folds repeats of the same statement into one record', async () => {
    const { tt, db } = await started({ slowQuerySeconds: 0.2 });
    const view = `${schema}.slow_view`;
    await db.getByFilter(view, { id: 1 });
    await db.getByFilter(view, { id: 1 }, { limit: 5 });

    const alerts = await slowAlerts(tt);
    expect(alerts).toHaveLength(1);
    const [alert] = alerts;
    expect(alert?.labels).toMatchObject({ operation: `getByFilter ${view}`, table: view });
    expect(alert?.annotations.statement).toBe(
      `SELECT * FROM "${schema}"."slow_view" WHERE "id" = $1 LIMIT $2 OFFSET $3`,
    );
    expect(alert?.annotations.summary).toMatch(new RegExp(`^Query on table "${view}" took `));
    expect(alert?.repeats).toBe(2);
  });

  it('raises nothing for statements within the threshold', async () => {
    const { tt, db } = await started({ slowQuerySeconds: 5 });
    await db.getById(users, 1);
    await db.query('SELECT pg_sleep(0.05)');
    expect(await slowAlerts(tt)).toEqual([]);
    expect(db.stats().slowQueries).toBe(0);
  });

  it('goes on when the alert sink it was given throws', async () => {
    const emitted: string[] = [];
    db = await testDatabase({
      poolSize: 1,
      slowQuerySeconds: 0.05,
      alerts: {
        emit: (input) => {
          emitted.push(input.type);
          throw new Error('sink broken');
        },
      },
    });
    expect((await db.query<{ one: number }>('SELECT 1 AS one FROM pg_sleep(0.1)')).rows).toEqual([
      { one: 1 },
    ]);
    expect(emitted).toEqual(['slow_query']);
    expect(db.stats().slowQueries).toBe(1);
  });

  it('raises nothing when performance monitoring is disabled', async () => {
    const { tt, db } = await started({ slowQuerySeconds: 0.05 }, { ENABLE_PERFORMANCE_MONITORING: 'false' });
    await db.query('SELECT pg_sleep(0.1)');
    expect(db.stats().slowQueries).toBe(1);
    expect(await slowAlerts(tt)).toEqual([]);
  });

  it('with explainSlow attaches the EXPLAIN (FORMAT JSON) plan, without running the statement again, once per interval', async () => {
    const { tt, db } = await started({ slowQuerySeconds: 0.2, explainSlow: true });
    const insert = `INSERT INTO ${schema}.log (at) SELECT now() FROM pg_sleep($1)`;
    await db.query(insert, [0.3]);
    await db.query(insert, [0.3]);
    await db.query(`SELECT id, pause FROM ${schema}.slow_view WHERE id = $1`, [1]);

    // Two inserts ran, two rows: the EXPLAIN planned the statement and never executed it.
    expect((await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${schema}.log`)).rows[0]?.n).toBe(
      2,
    );
    const spans = await spansNamed(tt, 'query');
    const plans = spans.map((span) => span.events.filter((e) => e.name === 'db.query.plan'));
    expect(plans.map((p) => p.length)).toEqual([1, 0, 1, 0]);
    const plan = JSON.parse(String(plans[0]?.[0]?.attributes?.['db.query.plan'])) as {
      Plan: Record<string, unknown>;
    }[];
    expect(plan[0]?.Plan['Node Type']).toBe('ModifyTable');
    expect(plan[0]?.Plan['Actual Total Time']).toBeUndefined();
    expect(plans[0]?.[0]?.attributes?.['db.query.plan.truncated']).toBe(false);
    expect(db.stats().explains).toBe(2);
  });
});

describe('spans', () => {
  it('makes one span per call, named after the operation and table, with the stable db attributes', async () => {
    const { tt, db } = await started();
    expect(await db.getById(users, 1, { correlationId: 'req-span' })).toEqual(USERS[0]);
    const spans = await spansNamed(tt, `getById ${users}`);
    expect(spans).toHaveLength(1);
    const [span] = spans;
    expect(span?.kind).toBe(SpanKind.INTERNAL);
    expect(span?.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.operation.name': 'getById',
      'db.collection.name': users,
      'db.namespace': 'test',
      'server.address': '127.0.0.1',
      'server.port': 5432,
      'db.query.text': `SELECT * FROM "${schema}"."users" WHERE "id" = $1 LIMIT 1`,
      'db.response.returned_rows': 1,
      'correlation.id': 'req-span',
    });
    expect(span?.attributes['perf.db.pool_wait_seconds']).toBeTypeOf('number');
    expect(span?.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('marks failed calls: SQLSTATE for server errors, the error code for perf-sidecar errors', async () => {
    const { tt, db } = await started();
    await expect(db.query('SELEC 1')).rejects.toThrow(/syntax error/);
    await expect(
      db.executeBatch([{ text: 'SELECT 1' }, { text: 'SELECT 1/0' }], { correlationId: 'req-batch' }),
    ).rejects.toThrow(/operation 1 failed: division by zero/);
    const [query] = await spansNamed(tt, 'query');
    expect(query?.status.code).toBe(SpanStatusCode.ERROR);
    expect(query?.attributes['db.response.status_code']).toBe('42601');
    expect(query?.events.map((e) => e.name)).toEqual(['exception']);
    const [batch] = await spansNamed(tt, 'executeBatch');
    expect(batch?.attributes).toMatchObject({
      'db.operation.batch.size': 2,
      'error.type': 'PERF_DB_BATCH_FAILED',
      'correlation.id': 'req-batch',
    });
  });
});

describe('secrets', () => {
  it('keeps the URL password out of spans, errors and health output', async () => {
    const secret = `pw-${randomUUID()}`;
    const { tt } = await started();
    // Trust authentication ignores the password; the service must still never show it.
    const good = await createDatabase({
      url: withPassword(TEST_DATABASE_URL, secret),
      poolSize: 1,
    });
    const missing = new URL(withPassword(TEST_DATABASE_URL, secret));
    missing.pathname = `/no_such_db_${randomUUID().slice(0, 8)}`;
    const bad = await createDatabase({ url: missing.toString(), poolSize: 1 });
    try {
      await good.getById(users, 1);
      const health = await good.getHealthStatus();
      expect(health.status).toBe('pass');
      expect(health.target).toBe(withPassword(TEST_DATABASE_URL, secret).replace(secret, '***'));
      const error = await rejectionOf(bad.query('SELECT 1'), DatabaseUnavailableError);
      expect(error.code).toBe('PERF_DB_UNAVAILABLE');
      expect(error.message).toMatch(
        /^PostgreSQL at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/no_such_db_\w+ is unavailable: database "no_such_db_\w+" does not exist$/,
      );
      const badHealth = await bad.getHealthStatus();
      expect(badHealth.status).toBe('fail');
      const everything = JSON.stringify([
        health,
        badHealth,
        error.message,
        String(error.cause),
        good.target,
        bad.target,
        (await tt.finishedSpans()).map((s) => [s.attributes, s.events, s.status]),
      ]);
      expect(everything).toContain('***');
      expect(everything).not.toContain(secret);
    } finally {
      await good.close();
      await bad.close();
    }
  });
});
