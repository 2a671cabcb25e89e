/**
 * Database test fixtures: a schema of the test file's own on the shared PostgreSQL (dropped
 * afterwards), a seeded `users` table, a client-side counter of checkouts (proof that no SQL ran),
 * and the lookup checks that the real server and the embedded one must both pass.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { expect } from 'vitest';
import { loadConfig, type PerfSidecarConfig } from '../../src/config.ts';
import {
  configuredDatabaseOptions,
  createDatabase,
  type Database,
  type DatabaseOptions,
  type Row,
} from '../../src/db/index.ts';
import { TEST_DATABASE_URL } from './env.ts';
import type { TestTelemetry } from './telemetry.ts';

/** A configuration for tests: quiet logs, the given variables on top. */
export function testConfig(env: Record<string, string> = {}): PerfSidecarConfig {
  return loadConfig({ LOG_LEVEL: 'warn', ...env });
}

/** The options the configuration sets, and the variable that sets each. */
export const DB_VARIABLES: Readonly<Record<string, string>> = {
  poolSize: 'DB_POOL_SIZE',
  maxOverflow: 'DB_MAX_OVERFLOW',
  poolTimeoutSeconds: 'DB_POOL_TIMEOUT',
  poolRecycleSeconds: 'DB_POOL_RECYCLE',
  prePingIdleSeconds: 'DB_PRE_PING_IDLE_SECONDS',
  slowQuerySeconds: 'DB_SLOW_QUERY_SECONDS',
  explainSlow: 'DB_EXPLAIN_SLOW',
  allowedSchemas: 'DB_ALLOWED_SCHEMAS',
  allowedTables: 'DB_ALLOWED_TABLES',
};

/** A database service on the shared test database, `options` on top. */
export function testDatabase(options: DatabaseOptions = {}): Promise<Database> {
  return createDatabase({ url: TEST_DATABASE_URL, ...options });
}

/**
 * The alert options a started test telemetry gives a service, as the sidecar passes them: its sink
 * and service name, or nothing when monitoring is disabled.
 */
export function alertOptionsOf(t: TestTelemetry): Pick<DatabaseOptions, 'alerts' | 'serviceName'> {
  const { alerts, serviceName } = configuredDatabaseOptions(t.telemetry.config, t.telemetry);
  return alerts === undefined ? {} : { alerts, serviceName };
}

/** A schema name nobody else uses. */
export function uniqueSchema(): string {
  return `perf_test_${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

/** Runs statements on the shared test database with a plain pg client (outside the service). */
export async function admin<T>(fn: (client: pg.Client) => Promise<T>, url = TEST_DATABASE_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** One seeded user. */
export interface User extends Row {
  id: number;
  name: string;
  team: string;
  age: number;
  note: string | null;
}

/** The seeded rows: ages repeat, so ordering by age alone would leave ties. */
export const USERS: readonly User[] = [30, 25, 30, 41, 25, 30, 19, 41, 25, 30].map((age, i) => ({
  id: i + 1,
  name: `u${String(i + 1).padStart(2, '0')}`,
  team: i % 2 === 0 ? 'red' : 'blue',
  age,
  note: i % 3 === 0 ? null : `note ${i + 1}`,
}));

/** DDL and rows of the `users` table in `schema` (as statements, so any client can run them). */
export function usersTableStatements(schema: string): { text: string; values?: unknown[] }[] {
  return [
    { text: `CREATE SCHEMA IF NOT EXISTS ${schema}` },
    {
      text: `CREATE TABLE ${schema}.users (id integer PRIMARY KEY, name text NOT NULL, team text NOT NULL, age integer NOT NULL, note text)`,
    },
    ...USERS.map((u) => ({
      text: `INSERT INTO ${schema}.users (id, name, team, age, note) VALUES ($1, $2, $3, $4, $5)`,
      values: [u.id, u.name, u.team, u.age, u.note],
    })),
  ];
}

/** Creates `schema.users` with the seeded rows on the shared database. */
export async function createUsers(schema: string): Promise<void> {
  await admin(async (client) => {
    for (const statement of usersTableStatements(schema))
      await client.query(statement.text, statement.values);
  });
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  await admin((client) => client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
}

/**
 * Counts checkouts of the service's pool: every statement the service sends needs one, so an
 * unchanged count (together with `stats().statements`) proves that no SQL ran.
 */
export function countCheckouts(db: Database): { readonly count: number } {
  const counter = { count: 0 };
  db.pool.on('acquire', () => {
    counter.count++;
  });
  return counter;
}

/** `USERS` sorted by a column (then id, as the service's tie-breaker does). */
export function sortedUsers(column: keyof User, direction: 'asc' | 'desc', rows = USERS): User[] {
  const sign = direction === 'asc' ? 1 : -1;
  return [...rows].sort((a, b) => {
    const x = a[column] as number | string;
    const y = b[column] as number | string;
    if (x !== y) return x < y ? -sign : sign;
    return a.id - b.id;
  });
}

/**
 * The lookups every PostgreSQL behind the service must answer the same way: by id, by filter with
 * limit, offset and order (both directions, with ties), every page exactly once, and `IS NULL`.
 */
export async function expectStandardLookups(db: Database, table: string): Promise<void> {
  expect(await db.getById<User>(table, 3)).toEqual(USERS[2]);
  expect(await db.getById<User>(table, '7')).toEqual(USERS[6]);
  expect(await db.getById(table, 999)).toBeUndefined();

  const red = USERS.filter((u) => u.team === 'red');
  expect(
    await db.getByFilter<User>(
      table,
      { team: 'red' },
      { orderBy: { column: 'age', direction: 'desc' }, limit: 2, offset: 1 },
    ),
  ).toEqual(sortedUsers('age', 'desc', red).slice(1, 3));
  expect(await db.getByFilter<User>(table, { team: 'blue', age: 25 })).toEqual(
    USERS.filter((u) => u.team === 'blue' && u.age === 25),
  );
  expect(await db.getByFilter<User>(table, { note: null }, { orderBy: 'name' })).toEqual(
    sortedUsers(
      'name',
      'asc',
      USERS.filter((u) => u.note === null),
    ),
  );

  // Pages of 3 over a column full of ties: together they are every row exactly once, in order.
  const pages: User[] = [];
  for (let offset = 0; offset < USERS.length; offset += 3) {
    pages.push(...(await db.getByFilter<User>(table, {}, { orderBy: 'age', limit: 3, offset })));
  }
  expect(pages).toEqual(sortedUsers('age', 'asc'));
  // No order given: primary key order.
  expect((await db.getByFilter<User>(table, {}, { limit: 4, offset: 2 })).map((u) => u.id)).toEqual([
    3, 4, 5, 6,
  ]);
}
