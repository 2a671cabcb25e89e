/**
 * The table catalogue: which tables exist, their columns and their primary key, read from
 * `pg_catalog` once per table and cached (bounded, with a time to live so that added columns show
 * up). Lookups for the same table made while one is in flight share it.
 */
import { InvalidArgumentError } from '../shared/errors.ts';
import { describeIdentifier, quoteIdentifier, type TableName } from './identifiers.ts';

/** What the service knows about one table. */
export interface TableInfo {
  /** Schema the name resolved to. */
  readonly schema: string;
  /** Table name, as stored in the catalogue. */
  readonly name: string;
  /** `"schema"."name"`, ready for SQL. */
  readonly qualified: string;
  /** Column names, as stored in the catalogue (case-sensitive). */
  readonly columns: ReadonlySet<string>;
  /** The single-column primary key, if the table has one. */
  readonly primaryKey: string | undefined;
}

/** Runs one catalogue statement. */
export type CatalogueQuery = (text: string, values: unknown[]) => Promise<readonly Record<string, unknown>[]>;

/** Options of {@link TableCatalogue}. */
export interface TableCatalogueOptions {
  /** Most tables kept; the least recently loaded is dropped past it. */
  readonly maxTables: number;
  /** How long an entry is trusted, ms. */
  readonly ttlMs: number;
}

/**
 * Columns of a table (or view, materialised view, partitioned or foreign table) in the first schema
 * of the search path that has it, or in the named schema; each column says whether it alone is the
 * primary key. One round trip.
 */
export const CATALOGUE_SQL = `SELECT n.nspname AS schema_name, c.relname AS table_name, a.attname AS column_name,
       COALESCE(a.attnum = ANY (pk.conkey) AND pg_catalog.array_length(pk.conkey, 1) = 1, false) AS is_key
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_catalog.pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
 WHERE c.relname = $1
   AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
   AND CASE WHEN $2::text IS NULL THEN n.nspname = ANY (pg_catalog.current_schemas(false))
            ELSE n.nspname = $2::text END
 ORDER BY pg_catalog.array_position(pg_catalog.current_schemas(false), n.nspname), a.attnum`;

interface Entry {
  readonly info: Promise<TableInfo>;
  readonly loadedAtMs: number;
  /** Whether `info` has settled. */
  settled: boolean;
}

/** Most column names listed in an "unknown column" message. */
const LISTED_COLUMNS = 20;

/** See the module comment. */
export class TableCatalogue {
  readonly #options: TableCatalogueOptions;
  readonly #entries = new Map<string, Entry>();
  #waiting = 0;

  constructor(options: TableCatalogueOptions) {
    this.#options = options;
  }

  /**
   * Lookups waiting for a catalogue read that another lookup of the same table started: they wait
   * for that read's pool connection too, but the pool counts only the one checkout.
   */
  get waiting(): number {
    return this.#waiting;
  }

  /** Tables cached now. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The table's description, from the cache or the catalogue.
   *
   * @param argument name of the argument, for the error message.
   * @param query runs the catalogue statement when the table is not cached (the caller's, so that
   *   the statement is counted and attributed to the call that needed it).
   * @throws {InvalidArgumentError} when no such table is visible.
   */
  table(argument: string, table: TableName, query: CatalogueQuery): Promise<TableInfo> {
    const key = table.schema === undefined ? table.name : `${table.schema}.${table.name}`;
    const now = Date.now();
    const cached = this.#entries.get(key);
    if (cached && now - cached.loadedAtMs <= this.#options.ttlMs) {
      if (cached.settled) return cached.info;
      this.#waiting++;
      const done = () => {
        this.#waiting--;
      };
      cached.info.then(done, done);
      return cached.info;
    }
    const info = this.#load(argument, table, query);
    const entry: Entry = { info, loadedAtMs: now, settled: false };
    const settle = () => {
      entry.settled = true;
    };
    info.then(settle, settle);
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    while (this.#entries.size > this.#options.maxTables) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    // Failures (unknown table, connection errors) are not cached: the next call asks again.
    info.catch(() => {
      if (this.#entries.get(key)?.info === info) this.#entries.delete(key);
    });
    return info;
  }

  /** Forgets every cached table (for example after a migration). */
  clear(): void {
    this.#entries.clear();
  }

  async #load(argument: string, table: TableName, query: CatalogueQuery): Promise<TableInfo> {
    const rows = await query(CATALOGUE_SQL, [table.name, table.schema ?? null]);
    const first = rows[0];
    if (first === undefined) {
      const where =
        table.schema === undefined ? 'in any schema of the search path' : `in schema "${table.schema}"`;
      throw new InvalidArgumentError(
        argument,
        `no table ${describeIdentifier(table.name)} ${where} (names are matched exactly, case included)`,
        'the name of an existing table or view',
      );
    }
    const schema = String(first.schema_name);
    const columns = new Set<string>();
    let primaryKey: string | undefined;
    for (const row of rows) {
      // Only the first schema of the search path that has the table counts.
      if (row.schema_name !== schema) break;
      const column = String(row.column_name);
      columns.add(column);
      if (row.is_key === true) primaryKey = column;
    }
    const name = String(first.table_name);
    return {
      schema,
      name,
      qualified: `${quoteIdentifier(schema)}.${quoteIdentifier(name)}`,
      columns,
      primaryKey,
    };
  }
}

/**
 * Checks that a (shape-checked) column exists in the table.
 *
 * @throws {InvalidArgumentError} naming the column and listing the table's columns.
 */
export function requireColumn(argument: string, table: TableInfo, column: string): string {
  if (table.columns.has(column)) return column;
  const names = [...table.columns];
  const listed = names.slice(0, LISTED_COLUMNS).join(', ');
  const more = names.length > LISTED_COLUMNS ? ` and ${names.length - LISTED_COLUMNS} more` : '';
  throw new InvalidArgumentError(
    argument,
    `${describeIdentifier(column)} is not a column of ${table.schema}.${table.name}`,
    `one of its columns: ${listed}${more}`,
  );
}
