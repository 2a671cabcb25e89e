/**
 * The lookups, `getById` and `getByFilter`: arguments checked before any SQL runs, table names
 * judged by the access rules and resolved through the catalogue, statements built from the
 * catalogue's own spelling only, every value a parameter.
 */
import type { TableAccess } from './access.ts';
import {
  checkCallOptions,
  checkFilters,
  checkId,
  checkLimit,
  checkOffset,
  checkOrderBy,
  keyColumnOf,
} from './arguments.ts';
import { requireColumn, type TableCatalogue, type TableInfo } from './catalogue.ts';
import type { Call } from './connections.ts';
import { checkColumnName, parseTableName, type TableName } from './identifiers.ts';
import type { DatabaseSettings } from './options.ts';
import { ATTR_PERF_DB_LIMIT_CAPPED, OPERATION } from './semconv.ts';
import { type SortKey, selectByFilter, selectById } from './sql.ts';
import type { Statements } from './statements.ts';
import type { FilterValue, GetByFilterOptions, GetByIdOptions, Row } from './types.ts';

/** See the module comment. */
export class Lookups {
  readonly #statements: Statements;
  readonly #settings: DatabaseSettings;
  readonly #access: TableAccess;
  readonly #catalogue: TableCatalogue;
  /** getById statements by catalogue entry; entries go when the catalogue drops the table. */
  readonly #byIdTexts = new WeakMap<TableInfo, string>();

  constructor(
    statements: Statements,
    settings: DatabaseSettings,
    access: TableAccess,
    catalogue: TableCatalogue,
  ) {
    this.#statements = statements;
    this.#settings = settings;
    this.#access = access;
    this.#catalogue = catalogue;
  }

  /** See `Database.getById`. */
  async getById<R extends Row = Row>(
    table: string,
    id: string | number | bigint,
    options?: GetByIdOptions,
  ): Promise<R | undefined> {
    const name = this.#tableName(table);
    const value = checkId(id);
    const opts = checkCallOptions(options);
    const idColumn =
      opts?.idColumn === undefined ? undefined : checkColumnName('options.idColumn', opts.idColumn);
    return this.#statements.call(OPERATION.getById, table, opts, {}, async (call) => {
      const info = await this.#table(call, table, name);
      const text =
        idColumn === undefined
          ? this.#byIdText(info)
          : selectById(info, requireColumn('options.idColumn', info, idColumn));
      const result = await this.#statements.run(call, text, [value]);
      return result.rows[0] as R | undefined;
    });
  }

  /** See `Database.getByFilter`. */
  async getByFilter<R extends Row = Row>(
    table: string,
    filters?: Readonly<Record<string, FilterValue>>,
    options?: GetByFilterOptions,
  ): Promise<R[]> {
    const name = this.#tableName(table);
    const entries = checkFilters(filters);
    const opts = checkCallOptions(options);
    const { limit, capped } = checkLimit(opts?.limit, this.#settings);
    const offset = checkOffset(opts?.offset, this.#settings);
    const order = checkOrderBy(opts?.orderBy);
    const attributes = capped ? { [ATTR_PERF_DB_LIMIT_CAPPED]: true } : {};
    return this.#statements.call(OPERATION.getByFilter, table, opts, attributes, async (call) => {
      const info = await this.#table(call, table, name);
      for (const [column] of entries) requireColumn(`filters.${column}`, info, column);
      const sort: SortKey[] = [];
      if (order !== undefined) {
        sort.push({
          column: requireColumn('options.orderBy', info, order.column),
          direction: order.direction,
        });
      }
      // The primary key as the last sort key makes limit/offset pages deterministic.
      if (info.primaryKey !== undefined && order?.column !== info.primaryKey) {
        sort.push({ column: info.primaryKey, direction: 'asc' });
      }
      const statement = selectByFilter(info, entries, sort, limit, offset);
      return (await this.#statements.run(call, statement.text, statement.values)).rows as R[];
    });
  }

  /** The table name's shape, and, when the caller qualified it, whether it may be read at all. */
  #tableName(table: string): TableName {
    const name = parseTableName('table', table);
    this.#access.checkQualified('table', table, name);
    return name;
  }

  /** `selectById` on the table's default key column, built once per catalogue entry. */
  #byIdText(info: TableInfo): string {
    let text = this.#byIdTexts.get(info);
    if (text === undefined) {
      text = selectById(info, keyColumnOf(info));
      this.#byIdTexts.set(info, text);
    }
    return text;
  }

  /** The table's catalogue entry, once the access rules allow what the name resolved to. */
  async #table(call: Call, given: string, name: TableName): Promise<TableInfo> {
    const info = await this.#catalogue.table('table', name, (text, values) =>
      this.#statements.housekeeping(call, text, values),
    );
    // The search path decides where an unqualified name lands (it may list pg_catalog).
    this.#access.check('table', given, info.schema, info.name);
    return info;
  }
}
