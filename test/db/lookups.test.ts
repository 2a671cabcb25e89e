/**
 * Lookups against the real PostgreSQL: by id and by filter with limit, offset and order; hostile
 * identifiers refused before any SQL runs; hostile values stored and matched as plain data.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import {
  admin,
  countCheckouts,
  createUsers,
  dropSchema,
  expectStandardLookups,
  sortedUsers,
  testDatabase,
  USERS,
  type User,
  uniqueSchema,
} from '../helpers/db.ts';
import { TEST_DATABASE_URL } from '../helpers/env.ts';
import { rejectionOf } from '../helpers/expect.ts';

const schema = uniqueSchema();
const users = `${schema}.users`;
let db: Database;

beforeAll(async () => {
  await createUsers(schema);
  await admin((c) =>
    c.query(`CREATE TABLE ${schema}.notes (id serial PRIMARY KEY, body text NOT NULL, "Order" integer)`),
  );
  await admin((c) => c.query(`CREATE TABLE ${schema}.keyless (id integer, label text)`));
  await admin((c) => c.query(`CREATE TABLE ${schema}.codes (code text PRIMARY KEY, label text)`));
  await admin((c) => c.query(`INSERT INTO ${schema}.codes VALUES ('a-1', 'first'), ('b-2', 'second')`));
  db = await testDatabase({ poolSize: 2, maxOverflow: 2 });
});

afterAll(async () => {
  await db?.close();
  await dropSchema(schema);
});

/** Calls `fn`, expecting it to reject with an InvalidArgumentError; returns the error. */
function refused(fn: () => Promise<unknown>): Promise<InvalidArgumentError> {
  return rejectionOf(fn(), InvalidArgumentError);
}

describe('lookups on the real PostgreSQL', () => {
  it('answers the standard lookups by id and by filter with limit, offset and order', async () => {
    await expectStandardLookups(db, users);
  });

  it('finds the id column from the primary key, or takes the one named', async () => {
    expect(await db.getById(`${schema}.codes`, 'b-2')).toEqual({ code: 'b-2', label: 'second' });
    expect(await db.getById(`${schema}.codes`, 'first', { idColumn: 'label' })).toEqual({
      code: 'a-1',
      label: 'first',
    });
    await admin((c) => c.query(`INSERT INTO ${schema}.keyless VALUES (5, 'five')`));
    expect(await db.getById(`${schema}.keyless`, 5)).toEqual({ id: 5, label: 'five' });
    expect(await db.getById(`${schema}.keyless`, 'five', { idColumn: 'label' })).toEqual({
      id: 5,
      label: 'five',
    });
    await admin((c) => c.query(`CREATE TABLE ${schema}.bag (label text)`));
    await admin((c) => c.query(`INSERT INTO ${schema}.bag VALUES ('x')`));
    expect(await db.getById(`${schema}.bag`, 'x', { idColumn: 'label' })).toEqual({ label: 'x' });
    expect((await refused(() => db.getById(`${schema}.bag`, 'x'))).message).toBe(
      `options.idColumn: is not given, and ${schema}.bag has neither a single-column primary key nor an "id" column; expected the name of the column that holds the id`,
    );
  });

  it('resolves unqualified names through the search path', async () => {
    const url = `${TEST_DATABASE_URL}?options=${encodeURIComponent(`-c search_path=${schema},public`)}`;
    const searchDb = await createDatabase({ url, poolSize: 1, maxOverflow: 0 });
    try {
      expect(await searchDb.getById<User>('users', 2)).toEqual(USERS[1]);
      expect(await searchDb.getByFilter('codes', { label: 'first' })).toEqual([
        { code: 'a-1', label: 'first' },
      ]);
      await expect(searchDb.getById('nothing_here', 1)).rejects.toThrow(
        /no table "nothing_here" in any schema of the search path/,
      );
    } finally {
      await searchDb.close();
    }
  });

  it('caps the limit at maxLimit and refuses offsets past maxOffset', async () => {
    const small = await testDatabase({ poolSize: 1, maxOverflow: 0, maxLimit: 4, maxOffset: 5 });
    try {
      expect(await small.getByFilter(users, {}, { limit: 1000 })).toHaveLength(4);
      expect(await small.getByFilter(users)).toHaveLength(4);
      const error = await refused(() => small.getByFilter(users, {}, { offset: 6 }));
      expect(error.message).toBe('options.offset: is 6; expected a whole number of rows from 0 to 5');
      await refused(() => small.getByFilter(users, {}, { limit: 0 }));
      await refused(() => small.getByFilter(users, {}, { limit: 2.5 }));
    } finally {
      await small.close();
    }
  });

  it('names an unknown table, column or direction in the error', async () => {
    expect((await refused(() => db.getById(`${schema}.nope`, 1))).message).toBe(
      `table: no table "nope" in schema "${schema}" (names are matched exactly, case included); expected the name of an existing table or view`,
    );
    expect((await refused(() => db.getByFilter(users, { colour: 'red' }))).message).toBe(
      `filters.colour: "colour" is not a column of ${schema}.users; expected one of its columns: id, name, team, age, note`,
    );
    expect((await refused(() => db.getByFilter(users, {}, { orderBy: 'height' }))).message).toMatch(
      /^options\.orderBy: "height" is not a column of perf_test_\w+\.users/,
    );
    expect(
      (
        await refused(() =>
          db.getByFilter(users, {}, { orderBy: { column: 'age', direction: 'sideways' as 'asc' } }),
        )
      ).message,
    ).toBe('options.orderBy.direction: "sideways" is not a sort direction; expected "asc" or "desc"');
    expect((await refused(() => db.getById(`${schema}.Users`, 1))).message).toMatch(/no table "Users"/);
    expect((await refused(() => db.getById(users, 1, { idColumn: 'missing' }))).message).toMatch(
      /^options\.idColumn: "missing" is not a column of/,
    );
  });

  it('quotes catalogue names, so reserved and mixed-case column names work', async () => {
    await db.query(`INSERT INTO ${schema}.notes (body, "Order") VALUES ($1, $2), ($3, $4)`, ['b', 2, 'a', 1]);
    const rows = await db.getByFilter<{ body: string }>(
      `${schema}.notes`,
      {},
      { orderBy: { column: 'Order' } },
    );
    expect(rows.map((r) => r.body)).toEqual(['a', 'b']);
  });

  it('filters on reserved-word and mixed-case columns on the real server (quoted in WHERE)', async () => {
    await admin((c) =>
      c.query(
        `CREATE TABLE ${schema}.odd ("order" integer PRIMARY KEY, "Team" text, "select" text, "userName" text)`,
      ),
    );
    await admin((c) =>
      c.query(
        `INSERT INTO ${schema}.odd VALUES (1, 'red', 'a', 'Ada'), (2, 'blue', NULL, 'Bob'), (3, 'red', 'c', 'Cy')`,
      ),
    );
    const odd = `${schema}.odd`;
    expect(await db.getById(odd, 2)).toEqual({ order: 2, Team: 'blue', select: null, userName: 'Bob' });
    expect((await db.getByFilter<{ order: number }>(odd, { order: 3 })).map((r) => r.order)).toEqual([3]);
    expect(
      (await db.getByFilter<{ order: number }>(odd, { Team: 'red' }, { orderBy: 'order' })).map(
        (r) => r.order,
      ),
    ).toEqual([1, 3]);
    expect((await db.getByFilter<{ order: number }>(odd, { select: null })).map((r) => r.order)).toEqual([2]);
    expect(
      (await db.getByFilter<{ order: number }>(odd, { userName: 'Cy', Team: 'red', select: 'c' })).map(
        (r) => r.order,
      ),
    ).toEqual([3]);
    expect(await db.getById(odd, 'Ada', { idColumn: 'userName' })).toMatchObject({ order: 1 });
    // Names are matched exactly: the folded spelling is another (missing) column.
    await expect(db.getByFilter(odd, { team: 'red' })).rejects.toThrow(/"team" is not a column of/);
  });

  it('keeps at most maxCachedTables tables and sees new columns after clearCatalogue()', async () => {
    const small = await testDatabase({ poolSize: 1, maxOverflow: 0, maxCachedTables: 2 });
    try {
      const statements = async (fn: () => Promise<unknown>) => {
        const before = small.stats().statements;
        await fn();
        return small.stats().statements - before;
      };
      expect(await statements(() => small.getById(users, 1))).toBe(2);
      expect(await statements(() => small.getById(users, 1))).toBe(1);
      await small.getById(`${schema}.codes`, 'a-1');
      await small.getById(`${schema}.keyless`, 1);
      expect(small.stats().cachedTables).toBe(2);
      // users was loaded first, so it was dropped: looking it up reads the catalogue again.
      expect(await statements(() => small.getById(users, 1))).toBe(2);

      // codes was dropped by now too; loading it caches its columns as they are.
      expect(await statements(() => small.getById(`${schema}.codes`, 'a-1'))).toBe(2);
      await admin((c) => c.query(`ALTER TABLE ${schema}.codes ADD COLUMN extra text`));
      await expect(small.getByFilter(`${schema}.codes`, { extra: null })).rejects.toThrow(
        /"extra" is not a column of/,
      );
      small.clearCatalogue();
      expect(await small.getByFilter(`${schema}.codes`, { extra: null }, { orderBy: 'code' })).toEqual([
        { code: 'a-1', label: 'first', extra: null },
        { code: 'b-2', label: 'second', extra: null },
      ]);
    } finally {
      await small.close();
    }
  });

  it('refuses hostile identifiers with a clear error before any SQL runs', async () => {
    // Warm the catalogue so that a column check needs no statement either.
    await db.getById(users, 1);
    const checkouts = countCheckouts(db);
    const statementsBefore = db.stats().statements;
    const hostileTables = [
      'users; DROP TABLE x',
      'id) OR 1=1 --',
      '"users"',
      'users"; DROP TABLE users; --',
      `${schema}.users; --`,
      'public.users.extra',
      'users ',
      'us\u0435rs', // Cyrillic "е"
      'users\u200b', // zero-width space
      '\u202eusers', // right-to-left override
      'ｕsers', // fullwidth letter
      '',
      'a'.repeat(64),
    ];
    for (const table of hostileTables) {
      const error = await refused(() => db.getById(table, 1));
      expect(error.message).toMatch(
        /^table: .* is not a plain table name; expected a table name of 1 to 63 ASCII/,
      );
      await refused(() => db.getByFilter(table, {}));
    }
    expect((await refused(() => db.getById('us\u0435rs', 1))).message).toContain('"us\\u0435rs"');
    const hostileColumns = [
      'id) OR 1=1 --',
      'name"',
      'name; DROP TABLE x',
      'n\u0430me',
      'name\u0000',
      '1name',
      'a.b',
    ];
    for (const column of hostileColumns) {
      await refused(() => db.getByFilter(users, { [column]: 1 }));
      await refused(() => db.getByFilter(users, {}, { orderBy: column }));
      await refused(() => db.getByFilter(users, {}, { orderBy: { column, direction: 'asc' } }));
      await refused(() => db.getById(users, 1, { idColumn: column }));
    }
    await refused(() =>
      db.getByFilter(users, {}, { orderBy: { column: 'age', direction: 'desc; DROP TABLE x' as 'desc' } }),
    );
    await refused(() => db.query('SELECT 1', [], { table: 'x; DROP TABLE y' }));
    expect(checkouts.count).toBe(0);
    expect(db.stats().statements).toBe(statementsBefore);
    expect(await db.getById(users, 1)).toEqual(USERS[0]);
  });

  it('treats hostile values as plain data', async () => {
    const hostile = [
      "'; DROP TABLE users; --",
      "x' OR '1'='1",
      'Robert"); DROP TABLE students;--',
      '$1',
      '\\',
      '😀 \u202e',
    ];
    await db.executeBatch(
      hostile.map((body) => ({ text: `INSERT INTO ${schema}.notes (body) VALUES ($1)`, values: [body] })),
    );
    for (const body of hostile) {
      const rows = await db.getByFilter<{ body: string }>(`${schema}.notes`, { body });
      expect(rows.map((r) => r.body)).toEqual([body]);
    }
    expect(await db.getByFilter(users, { name: "u01' OR '1'='1" })).toEqual([]);
  });

  it('rejects non-integer text as an id the way PostgreSQL does, naming the problem', async () => {
    await expect(db.getById(users, '1 OR 1=1')).rejects.toThrow(
      /invalid input syntax for type integer: "1 OR 1=1"/,
    );
    expect(await db.query(`SELECT count(*)::int AS n FROM ${schema}.users`)).toMatchObject({
      rows: [{ n: USERS.length }],
    });
  });

  it('runs any statement through query(), values as parameters', async () => {
    const result = await db.query<{ name: string }>(
      `SELECT name FROM ${schema}.users WHERE age = $1 ORDER BY id`,
      [41],
    );
    expect(result.command).toBe('SELECT');
    expect(result.rows.map((r) => r.name)).toEqual(
      sortedUsers('id', 'asc')
        .filter((u) => u.age === 41)
        .map((u) => u.name),
    );
    expect(result.rowCount).toBe(2);
  });

  it('refuses transaction control in query(): the next query may run on another connection', async () => {
    const error = await refused(() => db.query('BEGIN'));
    expect(error.message).toMatch(/^text: is a transaction control statement/);
    await refused(() => db.query('  /* a */ commit'));
  });

  it('refuses bad arguments with the argument named', async () => {
    expect((await refused(() => db.getById(users, { id: 1 } as unknown as number))).message).toBe(
      'id: is an object; expected a string of 1 to 1024 characters, a finite number or a bigint',
    );
    expect((await refused(() => db.getByFilter(users, { age: { $gt: 1 } } as never))).message).toMatch(
      /^filters\.age: is an object; expected a string, finite number/,
    );
    expect((await refused(() => db.getByFilter(users, { age: undefined } as never))).message).toMatch(
      /^filters\.age: is undefined/,
    );
    expect((await refused(() => db.query(''))).message).toMatch(/^text: is "";/);
    expect((await refused(() => db.query('SELECT $1', 'x' as never))).message).toMatch(/^params: is "x";/);
    expect((await refused(() => db.getById(users, 1, { correlationId: '' }))).message).toMatch(
      /^options\.correlationId:/,
    );
  });
});
