/**
 * `startDatabase` fills what its caller leaves out: the URL, pool and query settings and allow-lists
 * from the configuration (`DATABASE_URL`, `DB_*`), the alert sink and service name from the running
 * telemetry, only while monitoring is enabled. `configuredDatabaseOptions` is that mapping alone.
 * Against the real PostgreSQL and Redis.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AlertInput } from '../../src/alerts/index.ts';
import { getConfig, loadConfig } from '../../src/config.ts';
import {
  closeDatabase,
  configuredDatabaseOptions,
  getDatabase,
  initializeDatabase,
  startDatabase,
  stopDatabase,
  TableNotAllowedError,
} from '../../src/db/index.ts';
import { createUsers, DB_VARIABLES, dropSchema, uniqueSchema } from '../helpers/db.ts';
import { TEST_DATABASE_URL } from '../helpers/env.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { startConnectedTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

const schema = uniqueSchema();
const other = uniqueSchema();

// The configuration is read from process.env once and cached: these variables are set before any
// code of this file reads it (each test file runs in a process of its own).
Object.assign(process.env, {
  DATABASE_URL: TEST_DATABASE_URL,
  DB_POOL_SIZE: '3',
  DB_MAX_OVERFLOW: '1',
  DB_SLOW_QUERY_SECONDS: '0.2',
  DB_ALLOWED_SCHEMAS: schema,
  LOG_LEVEL: 'warn',
});

let t: TestTelemetry | undefined;

beforeAll(async () => {
  await createUsers(schema);
  await createUsers(other);
});

afterAll(async () => {
  await dropSchema(schema);
  await dropSchema(other);
});

afterEach(async () => {
  await stopDatabase();
  await t?.cleanup();
  t = undefined;
});

async function slowAlerts(tt: TestTelemetry): Promise<Record<string, unknown>[]> {
  await tt.telemetry.alerts.flush();
  return (await tt.list(tt.performanceList)).filter((record) => record.type === 'slow_query');
}

describe('configuredDatabaseOptions', () => {
  it('maps DATABASE_URL and DB_* onto the options, and nothing else without a telemetry', () => {
    // Values other than the defaults, written into the variables that carry them.
    const values = {
      poolSize: 7,
      maxOverflow: 2,
      poolTimeoutSeconds: 1.5,
      poolRecycleSeconds: 900,
      prePingIdleSeconds: 5,
      slowQuerySeconds: 0.5,
      explainSlow: true,
      allowedSchemas: ['app', 'audit'],
      allowedTables: ['pg_catalog.pg_settings'],
    };
    const env = Object.fromEntries(
      Object.entries(values).map(([field, value]) => [DB_VARIABLES[field], [value].flat().join(',')]),
    );
    const config = loadConfig({ ...env, DATABASE_URL: 'postgresql+asyncpg://app:pw@db.internal:6543/arch' });
    expect(configuredDatabaseOptions(config)).toEqual({
      url: 'postgresql://app:pw@db.internal:6543/arch',
      ...values,
    });
    // No DATABASE_URL: no url, so createDatabase starts the embedded PostgreSQL.
    const defaults = configuredDatabaseOptions(loadConfig({}));
    expect(defaults).not.toHaveProperty('url');
    expect(defaults).not.toHaveProperty('allowedSchemas');
    expect(defaults).toMatchObject({
      poolSize: 20,
      maxOverflow: 30,
      slowQuerySeconds: 2,
      explainSlow: false,
    });
  });

  it("takes the telemetry's sink and service name only while monitoring is enabled", async () => {
    t = await startConnectedTelemetry();
    expect(configuredDatabaseOptions(loadConfig({}), t.telemetry)).toMatchObject({
      alerts: t.telemetry.alerts,
      serviceName: 'perf-sidecar',
    });
    await t.cleanup();
    t = await startConnectedTelemetry({ ENABLE_PERFORMANCE_MONITORING: 'false' });
    const disabled = configuredDatabaseOptions(loadConfig({}), t.telemetry);
    expect(disabled).not.toHaveProperty('alerts');
    expect(disabled).not.toHaveProperty('serviceName');
  });
});

describe('startDatabase', () => {
  it('fills the URL, pool settings and allow-lists from the configuration, and alerts from the running telemetry', async () => {
    expect(getConfig().db.poolSize).toBe(3);
    t = await startConnectedTelemetry();
    const db = await initializeDatabase();
    // The deprecated names are the new ones.
    expect(await startDatabase()).toBe(db);
    expect(closeDatabase).toBe(stopDatabase);
    expect(getDatabase()).toBe(db);
    expect(db.embedded).toBe(false);
    expect(db.poolStats()).toMatchObject({ min: 3, max: 4 });
    expect(await db.getById(`${schema}.users`, 1)).toMatchObject({ id: 1 });
    await rejectionOf(db.getById(`${other}.users`, 1), TableNotAllowedError);

    await db.query('SELECT pg_sleep($1)', [0.3], { correlationId: 'req-module' });
    const alerts = await slowAlerts(t);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({
      labels: { service: 'perf-sidecar', operation: 'query' },
      threshold: 0.2,
      correlation_id: 'req-module',
    });
  });

  it('lets what the caller passes win, and raises nothing while monitoring is disabled', async () => {
    t = await startConnectedTelemetry({ ENABLE_PERFORMANCE_MONITORING: 'false' });
    const db = await startDatabase({ poolSize: 2, allowedSchemas: [other], url: undefined });
    // poolSize given, overflow (1) from DB_MAX_OVERFLOW; url left out: DATABASE_URL.
    expect(db.poolStats()).toMatchObject({ min: 2, max: 3 });
    expect(db.embedded).toBe(false);
    expect(await db.getById(`${other}.users`, 2)).toMatchObject({ id: 2 });
    await rejectionOf(db.getById(`${schema}.users`, 2), TableNotAllowedError);

    await db.query('SELECT pg_sleep(0.3)');
    expect(db.stats().slowQueries).toBe(1);
    expect(await slowAlerts(t)).toEqual([]);
  });

  it("sends alerts to the caller's own sink and service name rather than the telemetry's", async () => {
    t = await startConnectedTelemetry();
    const received: AlertInput[] = [];
    const db = await startDatabase({
      alerts: { emit: (input) => received.push(input) },
      serviceName: 'orders-api',
      slowQuerySeconds: 0.1,
    });
    await db.query('SELECT pg_sleep(0.2)');
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({ type: 'slow_query', service: 'orders-api', threshold: 0.1 });
    expect(await slowAlerts(t)).toEqual([]);
  });
});
