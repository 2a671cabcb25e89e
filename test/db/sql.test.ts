/**
 * The pure helpers of the database service, alone: identifier checks, the SQL it writes, what it
 * reads from SQL it is given, and the EXPLAIN rate limiter's bounds.
 */
import { describe, expect, it } from 'vitest';
import type { TableInfo } from '../../src/db/catalogue.ts';
import { describeIdentifier, parseTableName, quoteIdentifier } from '../../src/db/identifiers.ts';
import { ExplainLimiter } from '../../src/db/monitor.ts';
import {
  excerpt,
  isExplainable,
  isTransactionControl,
  leadingKeywords,
  selectByFilter,
  selectById,
  statementHash,
} from '../../src/db/sql.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';

const table: TableInfo = {
  schema: 'app',
  name: 'Users',
  qualified: '"app"."Users"',
  columns: new Set(['id', 'name', 'order']),
  primaryKey: 'id',
};

describe('identifiers', () => {
  it('splits plain and schema-qualified table names', () => {
    expect(parseTableName('table', 'users')).toEqual({ schema: undefined, name: 'users' });
    expect(parseTableName('table', 'app.Users_2')).toEqual({ schema: 'app', name: 'Users_2' });
    expect(parseTableName('table', `_${'a'.repeat(62)}`).name).toHaveLength(63);
  });

  it.each([
    'users; DROP TABLE x',
    'id) OR 1=1 --',
    '"users"',
    "users'",
    'a.b.c',
    '.users',
    'users.',
    '1users',
    'us\u0435rs',
    'users\u200b',
    'user s',
    '',
    'a'.repeat(64),
  ])('refuses %j', (name) => {
    expect(() => parseTableName('table', name)).toThrow(InvalidArgumentError);
  });

  it('refuses non-strings', () => {
    expect(() => parseTableName('table', 42)).toThrow('table: 42 is not a plain table name');
    expect(() => parseTableName('table', null)).toThrow('table: null is not a plain table name');
  });

  it('shows invisible and bidirectional characters escaped in messages', () => {
    expect(describeIdentifier('a\u202eb\u200c"c')).toBe('"a\\u202eb\\u200c\\"c"');
    expect(describeIdentifier('x'.repeat(70))).toBe(`"${'x'.repeat(64)}\\u2026" (70 characters)`);
  });

  it('quotes with doubled quotes', () => {
    expect(quoteIdentifier('order')).toBe('"order"');
    expect(quoteIdentifier('a"b')).toBe('"a""b"');
  });
});

describe('generated SQL', () => {
  it('selects by id with one parameter', () => {
    expect(selectById(table, 'id')).toBe('SELECT * FROM "app"."Users" WHERE "id" = $1 LIMIT 1');
  });

  it('puts every value, the limit and the offset in parameters; null becomes IS NULL', () => {
    expect(
      selectByFilter(
        table,
        [
          ['name', 'x'],
          ['order', null],
        ],
        [
          { column: 'order', direction: 'desc' },
          { column: 'id', direction: 'asc' },
        ],
        10,
        20,
      ),
    ).toEqual({
      text: 'SELECT * FROM "app"."Users" WHERE "name" = $1 AND "order" IS NULL ORDER BY "order" DESC, "id" ASC LIMIT $2 OFFSET $3',
      values: ['x', 10, 20],
    });
    expect(selectByFilter(table, [], [], 5, 0)).toEqual({
      text: 'SELECT * FROM "app"."Users" LIMIT $1 OFFSET $2',
      values: [5, 0],
    });
  });
});

describe('reading SQL text', () => {
  it('finds the leading keywords past whitespace, comments (nested too) and parentheses', () => {
    expect(leadingKeywords('  -- c\n /* a /* b */ c */ (select 1)', 2)).toEqual(['SELECT']);
    expect(leadingKeywords('prepare transaction $$x$$', 2)).toEqual(['PREPARE', 'TRANSACTION']);
    expect(leadingKeywords('/* unterminated', 1)).toEqual([]);
  });

  it('recognises transaction control, and nothing else', () => {
    for (const text of [
      'BEGIN',
      'start transaction',
      'COMMIT',
      'end',
      'Rollback',
      'ABORT',
      'SAVEPOINT a',
      'release a',
      'PREPARE TRANSACTION $$x$$',
      '/* /* */ */ COMMIT',
    ]) {
      expect(isTransactionControl(text), text).toBe(true);
    }
    for (const text of [
      'SELECT 1',
      'PREPARE q AS SELECT 1',
      'INSERT INTO t VALUES (1)',
      '/* COMMIT */ SELECT 1',
      "SELECT 'COMMIT'",
    ]) {
      expect(isTransactionControl(text), text).toBe(false);
    }
  });

  it('explains only statements EXPLAIN accepts', () => {
    expect(isExplainable('WITH x AS (SELECT 1) SELECT * FROM x')).toBe(true);
    expect(isExplainable('update t set a = 1')).toBe(true);
    expect(isExplainable('CREATE TABLE t (a int)')).toBe(false);
    expect(isExplainable('VACUUM')).toBe(false);
  });

  it('hashes statement text stably and cuts long text with a mark', () => {
    expect(statementHash('SELECT 1')).toMatch(/^[0-9a-f]{16}$/);
    expect(statementHash('SELECT 1')).toBe(statementHash('SELECT 1'));
    expect(statementHash('SELECT 1')).not.toBe(statementHash('SELECT 2'));
    expect(excerpt('abcdef', 4)).toBe('abc…');
    expect(excerpt('abc', 4)).toBe('abc');
  });
});

describe('ExplainLimiter', () => {
  it('allows one EXPLAIN per statement per interval', () => {
    const limiter = new ExplainLimiter(60, 10);
    expect(limiter.allow('a', 0)).toBe(true);
    expect(limiter.allow('a', 59_999)).toBe(false);
    expect(limiter.allow('b', 1)).toBe(true);
    expect(limiter.allow('a', 60_000)).toBe(true);
  });

  it('remembers at most maxStatements, forgetting the oldest first', () => {
    const limiter = new ExplainLimiter(60, 3);
    for (const key of ['a', 'b', 'c', 'd']) expect(limiter.allow(key, 0)).toBe(true);
    expect(limiter.size).toBe(3);
    expect(limiter.allow('a', 1)).toBe(true);
    expect(limiter.allow('d', 1)).toBe(false);
  });
});
