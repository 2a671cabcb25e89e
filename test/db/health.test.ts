/**
 * getHealthStatus against a live server, a closed port, and a PostgreSQL cluster of the test's own
 * that is stopped and started again. startDatabase fails fast on a server that does not answer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createDatabase,
  type Database,
  DatabaseUnavailableError,
  getDatabase,
  startDatabase,
  stopDatabase,
} from '../../src/db/index.ts';
import { PerfSidecarError } from '../../src/shared/errors.ts';
import { admin, testDatabase } from '../helpers/db.ts';
import { TEST_DATABASE_URL } from '../helpers/env.ts';
import { rejectionOf } from '../helpers/expect.ts';
import { OwnPostgres } from '../helpers/postgres-server.ts';
import { freePort } from '../helpers/redis-server.ts';

const SECRET = 'health-secret-pw';

/** `server_version` as the server itself reports it: the tests run against any PostgreSQL. */
async function serverVersion(url: string): Promise<string> {
  const { rows } = await admin((c) => c.query<{ server_version: string }>('SHOW server_version'), url);
  return rows[0]?.server_version ?? 'none';
}
let db: Database | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
  await stopDatabase();
});

describe('health of a live server', () => {
  it('passes with the SELECT 1 latency, pool figures and server version, and no password', async () => {
    const url = new URL(TEST_DATABASE_URL);
    url.password = SECRET;
    db = await createDatabase({ url: url.toString(), poolSize: 2, maxOverflow: 3 });
    const health = await db.getHealthStatus();
    expect(health).toMatchObject({
      status: 'pass',
      pool: { total: 1, idle: 1, inUse: 0, waiting: 0, max: 5, min: 2 },
      embedded: false,
    });
    expect(health.latencyMs).toBeTypeOf('number');
    expect(health.serverVersion).toBe(await serverVersion(TEST_DATABASE_URL));
    expect(health.connection_pool).toBe(health.pool);
    expect(health.target).toBe(url.toString().replace(SECRET, '***'));
    expect(health.error).toBeUndefined();
    expect(new Date(health.checkedAt).toISOString()).toBe(health.checkedAt);
    expect(JSON.stringify(health)).not.toContain(SECRET);
  });

  it('reports a closed service as failed', async () => {
    db = await testDatabase({ poolSize: 1 });
    await db.close();
    expect(await db.getHealthStatus()).toMatchObject({
      status: 'fail',
      error: 'the database service is closed',
    });
    await expect(db.getById('users', 1)).rejects.toThrow(
      'database.getById() was called after close(); create a new database service',
    );
  });
});

describe('health of a server that is not there', () => {
  it('fails at once on a closed port, naming the server without its password', async () => {
    const port = await freePort();
    db = await createDatabase({
      url: `postgresql://postgres:${SECRET}@127.0.0.1:${port}/postgres`,
      poolSize: 1,
    });
    const health = await db.getHealthStatus();
    expect(health.status).toBe('fail');
    expect(health.error).toBe(
      `PostgreSQL at postgresql://postgres:***@127.0.0.1:${port}/postgres is unavailable: connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    expect(health.latencyMs).toBeUndefined();
    expect(health.pool).toMatchObject({ total: 0, waiting: 0 });
    expect(JSON.stringify(health)).not.toContain(SECRET);
  });

  it('startDatabase fails fast with a DatabaseUnavailableError, and getDatabase says it is not initialized', async () => {
    const port = await freePort();
    await rejectionOf(
      startDatabase({
        url: `postgresql://postgres@127.0.0.1:${port}/postgres`,
      }),
      DatabaseUnavailableError,
    );
    expect(() => getDatabase()).toThrow(PerfSidecarError);
    expect(() => getDatabase()).toThrow(
      'the database service is not initialized; call startDatabase() first',
    );
  });

  it('startDatabase on a live server is idempotent and getDatabase returns it', async () => {
    const first = await startDatabase({ url: TEST_DATABASE_URL, poolSize: 1 });
    const second = await startDatabase({
      url: 'postgresql://ignored@127.0.0.1:1/x',
    });
    expect(second).toBe(first);
    expect(getDatabase()).toBe(first);
    expect((await getDatabase().query<{ one: number }>('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
  });
});

describe('health of a server that stops and starts again', () => {
  let server: OwnPostgres;

  beforeAll(async () => {
    server = await OwnPostgres.start();
  }, 60_000);

  afterAll(async () => {
    await server?.dispose();
  });

  it('passes, fails while the server is stopped, and passes again once it is back', async () => {
    db = await createDatabase({
      url: server.url(SECRET),
      poolSize: 2,
      poolTimeoutSeconds: 2,
    });
    expect((await db.getHealthStatus()).status).toBe('pass');
    expect(await db.query('SELECT 1 AS one')).toMatchObject({ rows: [{ one: 1 }] });

    await server.stop();
    const down = await db.getHealthStatus();
    expect(down.status).toBe('fail');
    expect(down.error).toMatch(
      /^PostgreSQL at postgresql:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/postgres is unavailable: /,
    );
    await expect(db.query('SELECT 1')).rejects.toBeInstanceOf(DatabaseUnavailableError);

    await server.start();
    const up = await db.getHealthStatus();
    expect(up.status).toBe('pass');
    expect(up.serverVersion).toBe(await serverVersion(server.url()));
    expect(await db.query('SELECT 2 AS two')).toMatchObject({ rows: [{ two: 2 }] });
    expect(db.poolStats()).toMatchObject({ inUse: 0, waiting: 0 });
  }, 60_000);
});
