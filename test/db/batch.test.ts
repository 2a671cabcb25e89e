/**
 * executeBatch against the real PostgreSQL: one transaction on one connection, results in order,
 * all or nothing, the failing operation named; with pg's pipeline mode and without.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchFailedError, type Database } from '../../src/db/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { admin, countCheckouts, dropSchema, testDatabase, uniqueSchema } from '../helpers/db.ts';
import { rejectionOf } from '../helpers/expect.ts';

const schema = uniqueSchema();
const items = `${schema}.items`;

beforeAll(async () => {
  await admin(async (c) => {
    await c.query(`CREATE SCHEMA ${schema}`);
    await c.query(`CREATE TABLE ${items} (id integer PRIMARY KEY, name text NOT NULL CHECK (name <> ''))`);
  });
});

afterAll(async () => {
  await dropSchema(schema);
});

async function count(): Promise<number> {
  return admin(
    async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${items}`)).rows[0]?.n ?? -1,
  );
}

function batchError(promise: Promise<unknown>): Promise<BatchFailedError> {
  return rejectionOf(promise, BatchFailedError);
}

describe.each([
  { mode: 'pipelined', pipeline: true },
  { mode: 'one statement at a time', pipeline: false },
])('executeBatch, $mode', ({ pipeline }) => {
  let db: Database;
  let base = 0;

  beforeAll(async () => {
    db = await testDatabase({ poolSize: 1, maxOverflow: 0, pipeline });
    base = pipeline ? 1000 : 2000;
  });

  afterAll(async () => {
    await db?.close();
  });

  it('commits every statement and returns the results in order, with labels', async () => {
    const before = await count();
    const results = await db.executeBatch([
      { text: `INSERT INTO ${items} (id, name) VALUES ($1, $2)`, values: [base + 1, 'one'], label: 'first' },
      {
        text: `INSERT INTO ${items} (id, name) VALUES ($1, $2) RETURNING id, name`,
        values: [base + 2, 'two'],
      },
      { text: `UPDATE ${items} SET name = $1 WHERE id = $2`, values: ['uno', base + 1], label: 'rename' },
      { text: `SELECT name FROM ${items} WHERE id IN ($1, $2) ORDER BY id`, values: [base + 1, base + 2] },
    ]);
    expect(results).toEqual([
      { label: 'first', command: 'INSERT', rowCount: 1, rows: [] },
      { command: 'INSERT', rowCount: 1, rows: [{ id: base + 2, name: 'two' }] },
      { label: 'rename', command: 'UPDATE', rowCount: 1, rows: [] },
      { command: 'SELECT', rowCount: 2, rows: [{ name: 'uno' }, { name: 'two' }] },
    ]);
    expect(await count()).toBe(before + 2);
  });

  it('rolls everything back when one statement fails, naming its index and label', async () => {
    const before = await count();
    const error = await batchError(
      db.executeBatch([
        { text: `INSERT INTO ${items} (id, name) VALUES ($1, $2)`, values: [base + 10, 'ten'] },
        { text: `INSERT INTO ${items} (id, name) VALUES ($1, $2)`, values: [base + 11, 'eleven'] },
        {
          text: `INSERT INTO ${items} (id, name) VALUES ($1, $2)`,
          values: [base + 10, 'again'],
          label: 'duplicate',
        },
        { text: `INSERT INTO ${items} (id, name) VALUES ($1, $2)`, values: [base + 12, 'twelve'] },
      ]),
    );
    expect(error.code).toBe('PERF_DB_BATCH_FAILED');
    expect(error.index).toBe(2);
    expect(error.label).toBe('duplicate');
    expect(error.operationCount).toBe(4);
    expect(error.message).toBe(
      'batch of 4 operations rolled back: operation 2 ("duplicate") failed: duplicate key value violates unique constraint "items_pkey"',
    );
    expect((error.cause as { code?: string }).code).toBe('23505');
    expect(await count()).toBe(before);
    expect(
      await admin(async (c) => (await c.query(`SELECT 1 FROM ${items} WHERE id = $1`, [base + 10])).rowCount),
    ).toBe(0);
  });

  it('leaves the connection clean: the next batch and query run normally', async () => {
    await batchError(
      db.executeBatch([{ text: `INSERT INTO ${items} (id, name) VALUES ($1, '')`, values: [base + 20] }]),
    );
    const [result] = await db.executeBatch([
      { text: `INSERT INTO ${items} (id, name) VALUES ($1, $2) RETURNING name`, values: [base + 21, 'fine'] },
    ]);
    expect(result?.rows).toEqual([{ name: 'fine' }]);
    expect((await db.query('SELECT pg_catalog.txid_current_if_assigned() AS tx')).rows[0]?.tx).toBeNull();
    expect(db.poolStats()).toMatchObject({ inUse: 0, waiting: 0 });
  });

  it('runs each operation as exactly one statement: a hidden second statement fails the batch', async () => {
    const before = await count();
    const error = await batchError(
      db.executeBatch([
        { text: `INSERT INTO ${items} (id, name) VALUES (${base + 30}, 'a'); COMMIT` },
        { text: `INSERT INTO ${items} (id, name) VALUES ($1, 'b')`, values: [base + 31] },
      ]),
    );
    expect(error.index).toBe(0);
    expect(error.message).toMatch(/cannot insert multiple commands into a prepared statement/);
    expect(await count()).toBe(before);
  });

  it('refuses transaction control and bad operations before any SQL runs', async () => {
    const checkouts = countCheckouts(db);
    const refusals: [unknown, RegExp][] = [
      [[{ text: 'COMMIT' }], /^operations\[0\]\.text: is a transaction control statement/],
      [
        [{ text: 'SELECT 1' }, { text: ' /* nested /* comment */ */ ROLLBACK' }],
        /^operations\[1\]\.text: is a transaction control statement/,
      ],
      [[{ text: '-- note\n  savepoint s1' }], /transaction control/],
      [[{ text: 'PREPARE TRANSACTION $$x$$' }], /transaction control/],
      [[{ text: 'SELECT 1', label: '' }], /^operations\[0\]\.label: is "";/],
      [[{ text: '' }], /^operations\[0\]\.text: is "";/],
      [[{ text: 'SELECT $1', values: 'x' }], /^operations\[0\]\.values: is "x";/],
      [[null], /^operations\[0\]: is null;/],
      ['SELECT 1', /^operations: is "SELECT 1";/],
    ];
    for (const [operations, message] of refusals) {
      const error = await rejectionOf(db.executeBatch(operations as never), InvalidArgumentError);
      expect(error.message).toMatch(message);
    }
    expect(await db.executeBatch([])).toEqual([]);
    expect(checkouts.count).toBe(0);
  });
});

describe('executeBatch bounds', () => {
  it('refuses more operations than maxBatchSize', async () => {
    const db = await testDatabase({ poolSize: 1, maxBatchSize: 3 });
    try {
      const error = await rejectionOf(
        db.executeBatch(Array.from({ length: 4 }, () => ({ text: 'SELECT 1' }))),
        InvalidArgumentError,
      );
      expect(error.message).toBe(
        'operations: is an array of 4; expected an array of at most 3 operations ({ text, values?, label? })',
      );
      expect(
        await db.executeBatch(
          Array.from({ length: 3 }, (_, i) => ({ text: 'SELECT $1::int AS i', values: [i] })),
        ),
      ).toEqual([0, 1, 2].map((i) => ({ command: 'SELECT', rowCount: 1, rows: [{ i }] })));
    } finally {
      await db.close();
    }
  });
});
