/**
 * The embedded default: with no DATABASE_URL the service starts PGlite on a loopback port and talks
 * to it with pg like to any server. It must answer the same lookups as the real PostgreSQL.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchFailedError,
  createDatabase,
  type Database,
  startEmbeddedPostgres,
} from '../../src/db/index.ts';
import { expectStandardLookups, testConfig, USERS, usersTableStatements } from '../helpers/db.ts';
import { rejectionOf } from '../helpers/expect.ts';

describe('the embedded default (no DATABASE_URL)', () => {
  let db: Database;

  beforeAll(async () => {
    db = await createDatabase({ config: testConfig(), poolSize: 2, maxOverflow: 2 });
    await db.executeBatch(usersTableStatements('app'));
  }, 90_000);

  afterAll(async () => {
    await db?.close();
  });

  it('is PGlite on a loopback port, reported as embedded', async () => {
    expect(db.embedded).toBe(true);
    expect(db.target).toMatch(/^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const health = await db.getHealthStatus();
    expect(health).toMatchObject({ status: 'pass', embedded: true, pool: { max: 4, min: 2 } });
    expect(health.serverVersion).toMatch(/^\d+\.\d+/);
    const { rows } = await db.query<{ version: string }>('SELECT version() AS version');
    expect(rows[0]?.version).toContain('PGlite');
  });

  it('answers the same lookups as the real PostgreSQL', async () => {
    await expectStandardLookups(db, 'app.users');
    expect(await db.getByFilter('app.users', { team: 'red' }, { limit: 1000 })).toHaveLength(
      USERS.filter((u) => u.team === 'red').length,
    );
  });

  it('keeps batches all-or-nothing, naming the failing operation', async () => {
    const error = await rejectionOf(
      db.executeBatch([
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [100, 'x', 'red', 1],
        },
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [1, 'dup', 'red', 1],
          label: 'dup',
        },
      ]),
      BatchFailedError,
    );
    expect(error.index).toBe(1);
    expect(await db.getById('app.users', 100)).toBeUndefined();
  });

  it('serves transactions of several connections at once without mixing them', async () => {
    const writes = Array.from({ length: 6 }, (_, i) =>
      db.executeBatch([
        {
          text: 'INSERT INTO app.users (id, name, team, age) VALUES ($1, $2, $3, $4)',
          values: [200 + i, `c${i}`, 'green', i],
        },
        { text: 'UPDATE app.users SET age = age + 100 WHERE id = $1', values: [200 + i] },
      ]),
    );
    await Promise.all(writes);
    const rows = await db.getByFilter<{ age: number }>('app.users', { team: 'green' }, { orderBy: 'id' });
    expect(rows.map((r) => r.age)).toEqual([100, 101, 102, 103, 104, 105]);
  });
});

describe('startEmbeddedPostgres', () => {
  it('serves plain pg clients and stops cleanly', async () => {
    const server = await startEmbeddedPostgres({ maxConnections: 2 });
    const client = new pg.Client({ connectionString: server.url });
    try {
      await client.connect();
      expect((await client.query<{ n: number }>('SELECT 40 + $1::int AS n', [2])).rows).toEqual([{ n: 42 }]);
    } finally {
      await client.end();
      await server.stop();
    }
    const after = new pg.Client({ connectionString: server.url, connectionTimeoutMillis: 2000 });
    await expect(after.connect()).rejects.toThrow(/ECONNREFUSED/);
  }, 90_000);

  it('refuses bad options before starting anything', async () => {
    await expect(startEmbeddedPostgres({ maxConnections: 0 })).rejects.toThrow(
      'options.embedded.maxConnections: is 0; expected an integer from 1, at most 2000',
    );
  });
});
