/**
 * SQL text the service writes itself, and the little it needs to know about SQL text it is given:
 * the leading keywords (to refuse transaction control inside a batch and to decide whether a
 * statement can be EXPLAINed), a stable hash, and a bounded excerpt.
 *
 * Generated statements contain only catalogue names (quoted) and `$n` placeholders; every value,
 * limit and offset is a parameter, so one statement text serves every call of its shape.
 */
import { hash } from 'node:crypto';
import type { TableInfo } from './catalogue.ts';
import { quoteIdentifier } from './identifiers.ts';

/** Sort direction of `orderBy`. */
export type SortDirection = 'asc' | 'desc';

/** One resolved sort key. */
export interface SortKey {
  /** Catalogue column name. */
  readonly column: string;
  /** Direction. */
  readonly direction: SortDirection;
}

/** A statement and its parameters. */
export interface Statement {
  /** SQL text with `$n` placeholders. */
  readonly text: string;
  /** Parameter values, in placeholder order. */
  readonly values: unknown[];
}

/** `SELECT * ... WHERE <key> = $1 LIMIT 1`. */
export function selectById(table: TableInfo, keyColumn: string): string {
  return `SELECT * FROM ${table.qualified} WHERE ${quoteIdentifier(keyColumn)} = $1 LIMIT 1`;
}

/**
 * `SELECT * ... WHERE a = $1 AND b IS NULL ... ORDER BY ... LIMIT $n OFFSET $m`. A `null` filter
 * value means `IS NULL` (as SQLAlchemy's `filter_by(x=None)`), since `= NULL` matches nothing.
 */
export function selectByFilter(
  table: TableInfo,
  filters: readonly (readonly [column: string, value: unknown])[],
  order: readonly SortKey[],
  limit: number,
  offset: number,
): Statement {
  const values: unknown[] = [];
  const conditions = filters.map(([column, value]) => {
    if (value === null) return `${quoteIdentifier(column)} IS NULL`;
    values.push(value);
    return `${quoteIdentifier(column)} = $${values.length}`;
  });
  let text = `SELECT * FROM ${table.qualified}`;
  if (conditions.length > 0) text += ` WHERE ${conditions.join(' AND ')}`;
  if (order.length > 0) {
    text += ` ORDER BY ${order.map((k) => `${quoteIdentifier(k.column)} ${k.direction === 'desc' ? 'DESC' : 'ASC'}`).join(', ')}`;
  }
  values.push(limit, offset);
  text += ` LIMIT $${values.length - 1} OFFSET $${values.length}`;
  return { text, values };
}

/**
 * The first `count` keywords of a statement, upper-cased, skipping whitespace, `--` comments,
 * nested `/* *\/` comments and opening parentheses, the way PostgreSQL's lexer does. Stops at the
 * first character that cannot start a keyword.
 */
export function leadingKeywords(text: string, count: number): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < text.length && words.length < count) {
    const c = text[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f' || c === '(') {
      i++;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? text.length : end + 1;
    } else if (c === '/' && text[i + 1] === '*') {
      // PostgreSQL block comments nest; a flat scan would end the comment too early.
      let depth = 0;
      while (i < text.length) {
        if (text[i] === '/' && text[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (text[i] === '*' && text[i + 1] === '/') {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else {
          i++;
        }
      }
    } else {
      const match = /^[A-Za-z_]+/.exec(text.slice(i, i + 64));
      if (!match) break;
      words.push(match[0].toUpperCase());
      i += match[0].length;
    }
  }
  return words;
}

const TRANSACTION_CONTROL = new Set([
  'BEGIN',
  'START',
  'COMMIT',
  'END',
  'ROLLBACK',
  'ABORT',
  'SAVEPOINT',
  'RELEASE',
]);

/**
 * Whether a (single) statement controls the transaction: inside a batch it would commit or end the
 * batch's transaction part-way and break all-or-nothing.
 */
export function isTransactionControl(text: string): boolean {
  const [first, second] = leadingKeywords(text, 2);
  if (first === undefined) return false;
  return TRANSACTION_CONTROL.has(first) || (first === 'PREPARE' && second === 'TRANSACTION');
}

const EXPLAINABLE = new Set(['SELECT', 'WITH', 'INSERT', 'UPDATE', 'DELETE', 'VALUES', 'TABLE', 'MERGE']);

/** Whether `EXPLAIN` accepts the statement (plain EXPLAIN plans it without running it). */
export function isExplainable(text: string): boolean {
  const [first] = leadingKeywords(text, 1);
  return first !== undefined && EXPLAINABLE.has(first);
}

/** First 16 hex characters of the statement text's SHA-256: names a statement in labels and maps. */
export function statementHash(text: string): string {
  return hash('sha256', text).slice(0, 16);
}

/** The text cut to `maxLength` characters, with `…` marking a cut. */
export function excerpt(text: string, maxLength: number): string {
  return text.length <= maxLength ? text : `${text.slice(0, Math.max(maxLength - 1, 0))}…`;
}
