/**
 * Which tables the lookups (`getById`, `getByFilter`) may read. By default every table outside the
 * system schemas: `pg_catalog` holds `pg_authid` (password hashes) and `pg_settings`,
 * `information_schema` describes every object, `pg_toast` / `pg_temp_*` are internal. An app that
 * passes a user-chosen table name must not expose them. Allow-lists of schemas and of tables narrow
 * the default; a system schema or table is readable only when listed by name.
 *
 * A schema-qualified name is judged before any SQL runs; an unqualified one once the catalogue has
 * resolved it through the `search_path` (so `search_path=pg_catalog` changes nothing).
 */
import { TableNotAllowedError } from './errors.ts';
import { describeIdentifier, type TableName } from './identifiers.ts';

/** The system schemas, for messages. */
export const SYSTEM_SCHEMAS =
  'pg_catalog, information_schema, pg_toast, pg_temp_*, pg_toast_temp_* or any other pg_* schema';

/** Most allowed names listed in an error message. */
const LISTED_NAMES = 10;

/**
 * Whether a schema is a system schema. PostgreSQL reserves the `pg_` prefix for itself (a user
 * cannot create such a schema); case is ignored so that no spelling slips through.
 */
export function isSystemSchema(schema: string): boolean {
  const lower = schema.toLowerCase();
  return lower === 'information_schema' || lower.startsWith('pg_');
}

/** The allow-lists, checked by the options schema. `undefined`: not configured. */
export interface AccessSettings {
  readonly allowedSchemas?: readonly string[] | undefined;
  readonly allowedTables?: readonly string[] | undefined;
}

/** See the module comment. */
export class TableAccess {
  readonly #schemas: ReadonlySet<string> | undefined;
  readonly #tables: ReadonlySet<string> | undefined;
  readonly #expected: string;

  constructor(settings: AccessSettings) {
    this.#schemas = settings.allowedSchemas && new Set(settings.allowedSchemas);
    this.#tables = settings.allowedTables && new Set(settings.allowedTables);
    const parts: string[] = [];
    if (this.#schemas) parts.push(`a table in an allowed schema (${listed(this.#schemas)})`);
    if (this.#tables) parts.push(`an allowed table (${listed(this.#tables)})`);
    if (parts.length === 0) parts.push(`a table outside the system schemas (${SYSTEM_SCHEMAS})`);
    this.#expected = `${parts.join(' or ')}; allowedSchemas / allowedTables (DB_ALLOWED_SCHEMAS / DB_ALLOWED_TABLES) widen or narrow this`;
  }

  /**
   * Judges a name the caller qualified with its schema, before any SQL runs.
   *
   * @throws {TableNotAllowedError} when it may not be read.
   */
  checkQualified(argument: string, given: string, table: TableName): void {
    if (table.schema !== undefined) this.check(argument, given, table.schema, table.name);
  }

  /**
   * Judges the table a name resolved to.
   *
   * @throws {TableNotAllowedError} naming the table, its schema and what is allowed.
   */
  check(argument: string, given: string, schema: string, name: string): void {
    if (this.#allows(schema, name)) return;
    const where = given === `${schema}.${name}` ? '' : ` resolves to ${schema}.${name}, which`;
    const why = isSystemSchema(schema)
      ? `is in the system schema ${describeIdentifier(schema)}`
      : 'is not in the allow-list';
    throw new TableNotAllowedError(
      argument,
      `${schema}.${name}`,
      `${describeIdentifier(given)}${where} ${why}: lookups may not read it`,
      this.#expected,
    );
  }

  #allows(schema: string, name: string): boolean {
    if (this.#tables?.has(`${schema}.${name}`)) return true;
    if (this.#schemas) return this.#schemas.has(schema);
    if (this.#tables) return false;
    return !isSystemSchema(schema);
  }
}

function listed(names: ReadonlySet<string>): string {
  const all = [...names];
  const more = all.length > LISTED_NAMES ? ` and ${all.length - LISTED_NAMES} more` : '';
  return `${all.slice(0, LISTED_NAMES).join(', ')}${more}`;
}
