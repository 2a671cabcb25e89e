/**
 * Identifiers that come from callers (table, column and order names): checked for shape before any
 * SQL runs, then matched against the catalogue, and only the catalogue's own spelling is ever put
 * into SQL, double-quoted.
 *
 * The accepted shape is deliberately narrow, ASCII letters, digits and underscores: it leaves no
 * room for quotes, semicolons, comments, whitespace, homoglyphs, zero-width or bidirectional
 * characters. Tables with other names stay reachable through `query()`.
 */
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';

/** Longest identifier PostgreSQL keeps (NAMEDATALEN - 1 bytes; ASCII here, so characters). */
export const MAX_IDENTIFIER_LENGTH = 63;

const PLAIN_IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** Accepted form of a column name, for messages. */
export const COLUMN_FORM = `a column name of 1 to ${MAX_IDENTIFIER_LENGTH} ASCII letters, digits or underscores, not starting with a digit`;

/** Accepted form of a table name, for messages. */
export const TABLE_FORM = `a table name of 1 to ${MAX_IDENTIFIER_LENGTH} ASCII letters, digits or underscores, not starting with a digit, optionally schema-qualified as schema.table`;

/** A table name as the caller gave it, split into its parts. */
export interface TableName {
  /** Schema, when the caller qualified the name. Otherwise the `search_path` decides. */
  readonly schema: string | undefined;
  /** Table (or view) name. */
  readonly name: string;
}

/**
 * Shows an untrusted identifier in an error message: JSON-quoted, shortened, and with every
 * character outside printable ASCII escaped as `\uXXXX`, so that bidirectional or invisible
 * characters cannot disguise what was sent.
 */
export function describeIdentifier(value: unknown): string {
  return describeValue(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** Whether `value` is a plain identifier (see the module comment). */
export function isPlainIdentifier(value: unknown): value is string {
  return typeof value === 'string' && PLAIN_IDENTIFIER.test(value);
}

/**
 * Checks a table name's shape, before any SQL runs.
 *
 * @param argument name of the argument, for the error message.
 * @throws {InvalidArgumentError} when the name is not `name` or `schema.name` of plain identifiers.
 */
export function parseTableName(argument: string, value: unknown): TableName {
  if (typeof value === 'string') {
    const parts = value.split('.');
    if (parts.length === 1 && isPlainIdentifier(parts[0])) return { schema: undefined, name: parts[0] };
    if (parts.length === 2 && isPlainIdentifier(parts[0]) && isPlainIdentifier(parts[1])) {
      return { schema: parts[0], name: parts[1] };
    }
  }
  throw new InvalidArgumentError(
    argument,
    `${describeIdentifier(value)} is not a plain table name`,
    TABLE_FORM,
  );
}

/**
 * Checks a column name's shape, before any SQL runs.
 *
 * @throws {InvalidArgumentError} when the name is not a plain identifier.
 */
export function checkColumnName(argument: string, value: unknown): string {
  if (isPlainIdentifier(value)) return value;
  throw new InvalidArgumentError(
    argument,
    `${describeIdentifier(value)} is not a plain column name`,
    COLUMN_FORM,
  );
}

/**
 * Double-quotes an identifier for SQL, doubling embedded quotes. Only ever applied to names read
 * from the catalogue; quoting keeps their exact spelling (case included) and makes reserved words
 * such as `order` usable as column names.
 */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
