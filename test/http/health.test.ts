/** HealthChecker with a real PostgreSQL: pass, fail on a dead server, and the one-second cache. */
import { afterEach, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/index.ts';
import { createApp, HealthChecker } from '../../src/http/index.ts';
import { TEST_DATABASE_URL, withPassword } from '../helpers/env.ts';
import { freePort } from '../helpers/redis-server.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
let db: Database | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  await t?.cleanup();
  t = undefined;
});

describe('HealthChecker', () => {
  it('includes postgres:responseTime and runs SELECT 1 at most once per second', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    db = await createDatabase({ url: TEST_DATABASE_URL });
    const checker = new HealthChecker({ telemetry: t.telemetry, database: db });
    const first = await checker.check();
    expect(first.checks['postgres:responseTime']?.[0]).toMatchObject({
      status: 'pass',
      observedUnit: 'ms',
      componentType: 'datastore',
    });
    const statements = db.stats().statements;
    await Promise.all(Array.from({ length: 20 }, () => checker.check()));
    expect(db.stats().statements).toBe(statements);
  });

  it('fails when PostgreSQL does not answer, without leaking the password', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const url = withPassword(`postgresql://postgres@127.0.0.1:${await freePort()}/test`, 'pg-secret-pw');
    db = await createDatabase({ url, healthTimeoutSeconds: 1, poolTimeoutSeconds: 1 });
    const health = await new HealthChecker({ telemetry: t.telemetry, database: db }).check();
    expect(health.status).toBe('fail');
    expect(health.checks['postgres:responseTime']?.[0]).toMatchObject({
      status: 'fail',
      observedValue: null,
    });
    expect(JSON.stringify(health)).not.toContain('pg-secret-pw');
  });

  it('fails readiness (503 + Retry-After) only for the database, which lookups cannot work without', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const url = `postgresql://postgres@127.0.0.1:${await freePort()}/test`;
    db = await createDatabase({ url, healthTimeoutSeconds: 1, poolTimeoutSeconds: 1 });
    const app = createApp({ telemetry: t.telemetry, database: db, middleware: false });
    const ready = await app.request('/readyz');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(await ready.json()).toEqual({ status: 'fail' });
    const live = await app.request('/livez');
    expect(live.status).toBe(200);
  });
});
