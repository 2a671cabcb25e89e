/**
 * Checks of the arguments of the service's calls. They run before any SQL is sent; each failure is
 * an `InvalidArgumentError` naming the argument, what was wrong and what is accepted. Names are
 * checked for shape here and against the catalogue later.
 *
 * Hand-written rather than zod schemas like the service's options (`options.ts`): they run on every
 * call, where a schema parse would cost more than the lookup's own bookkeeping.
 */
import { checkOptionalId, describeValue, InvalidArgumentError } from '../shared/errors.ts';
import type { TableInfo } from './catalogue.ts';
import { checkColumnName, describeIdentifier } from './identifiers.ts';
import type { DatabaseSettings } from './options.ts';
import type { CallOptions, FilterValue } from './types.ts';

/** Longest string id `getById` accepts, in characters. */
const MAX_ID_TEXT_LENGTH = 1024;

/**
 * Checks the options object every call accepts (an object or undefined; `correlationId`).
 *
 * @throws {InvalidArgumentError} naming the bad option.
 */
export function checkCallOptions<T extends CallOptions>(options: T | undefined): T | undefined {
  if (options === undefined) return undefined;
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new InvalidArgumentError('options', `is ${describeValue(options)}`, 'an object or undefined');
  }
  checkOptionalId('options.correlationId', options.correlationId);
  return options;
}

/**
 * Checks a `getById` id: a string of 1 to 1024 characters, a finite number or a bigint.
 *
 * @throws {InvalidArgumentError} otherwise.
 */
export function checkId(id: unknown): string | number | bigint {
  if (
    (typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_TEXT_LENGTH) ||
    (typeof id === 'number' && Number.isFinite(id)) ||
    typeof id === 'bigint'
  ) {
    return id;
  }
  throw new InvalidArgumentError(
    'id',
    `is ${describeValue(id)}`,
    `a string of 1 to ${MAX_ID_TEXT_LENGTH} characters, a finite number or a bigint`,
  );
}

/**
 * Checks one `getByFilter` value.
 *
 * @throws {InvalidArgumentError} for anything but the {@link FilterValue} types.
 */
export function checkFilterValue(argument: string, value: unknown): FilterValue {
  if (
    value === null ||
    typeof value === 'string' ||
    typeof value === 'bigint' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value)) ||
    (value instanceof Date && !Number.isNaN(value.getTime())) ||
    value instanceof Uint8Array
  ) {
    return value;
  }
  throw new InvalidArgumentError(
    argument,
    `is ${describeValue(value)}`,
    'a string, finite number, bigint, boolean, valid Date, Uint8Array or null (null matches IS NULL)',
  );
}

/**
 * Checks `getByFilter` filters: the column names' shape and the values. Returns `[column, value]`
 * pairs; the columns are matched against the catalogue later.
 *
 * @throws {InvalidArgumentError} naming the bad filter.
 */
export function checkFilters(filters: unknown): [string, FilterValue][] {
  if (filters === undefined) return [];
  if (typeof filters !== 'object' || filters === null || Array.isArray(filters)) {
    throw new InvalidArgumentError(
      'filters',
      `is ${describeValue(filters)}`,
      'an object of column name to value',
    );
  }
  return Object.entries(filters).map(([key, value]) => {
    const column = checkColumnName('filters', key);
    return [column, checkFilterValue(`filters.${column}`, value)];
  });
}

const ORDER_FORM = 'a column name, or { column, direction: "asc" | "desc" }';

/**
 * Checks `orderBy`: a column name, or `{ column, direction }` with `asc` or `desc` (any case).
 *
 * @throws {InvalidArgumentError} naming the bad column or direction.
 */
export function checkOrderBy(orderBy: unknown): { column: string; direction: 'asc' | 'desc' } | undefined {
  if (orderBy === undefined) return undefined;
  if (typeof orderBy === 'string')
    return { column: checkColumnName('options.orderBy', orderBy), direction: 'asc' };
  if (typeof orderBy !== 'object' || orderBy === null || Array.isArray(orderBy)) {
    throw new InvalidArgumentError('options.orderBy', `is ${describeValue(orderBy)}`, ORDER_FORM);
  }
  const { column, direction } = orderBy as { column?: unknown; direction?: unknown };
  const checked = checkColumnName('options.orderBy.column', column);
  if (direction === undefined) return { column: checked, direction: 'asc' };
  const lower = typeof direction === 'string' ? direction.toLowerCase() : undefined;
  if (lower === 'asc' || lower === 'desc') return { column: checked, direction: lower };
  throw new InvalidArgumentError(
    'options.orderBy.direction',
    `${describeIdentifier(direction)} is not a sort direction`,
    '"asc" or "desc"',
  );
}

/**
 * The column `getById` matches when no `idColumn` is given: the single-column primary key, else
 * a column named `id`.
 *
 * @throws {InvalidArgumentError} when the table has neither.
 */
export function keyColumnOf(table: TableInfo): string {
  if (table.primaryKey !== undefined) return table.primaryKey;
  if (table.columns.has('id')) return 'id';
  throw new InvalidArgumentError(
    'options.idColumn',
    `is not given, and ${table.schema}.${table.name} has neither a single-column primary key nor an "id" column`,
    'the name of the column that holds the id',
  );
}

/**
 * The `getByFilter` limit: the default when absent, capped at `maxLimit` (`capped` says so).
 *
 * @throws {InvalidArgumentError} for anything but a whole number from 1.
 */
export function checkLimit(
  limit: unknown,
  settings: Pick<DatabaseSettings, 'defaultLimit' | 'maxLimit'>,
): { limit: number; capped: boolean } {
  if (limit === undefined) return { limit: settings.defaultLimit, capped: false };
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1) {
    throw new InvalidArgumentError(
      'options.limit',
      `is ${describeValue(limit)}`,
      `a whole number of rows from 1 (values above ${settings.maxLimit} are capped to it)`,
    );
  }
  return limit > settings.maxLimit ? { limit: settings.maxLimit, capped: true } : { limit, capped: false };
}

/**
 * The `getByFilter` offset: 0 when absent.
 *
 * @throws {InvalidArgumentError} for anything but a whole number from 0 to `maxOffset`.
 */
export function checkOffset(offset: unknown, settings: Pick<DatabaseSettings, 'maxOffset'>): number {
  if (offset === undefined) return 0;
  if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0 || offset > settings.maxOffset) {
    throw new InvalidArgumentError(
      'options.offset',
      `is ${describeValue(offset)}`,
      `a whole number of rows from 0 to ${settings.maxOffset}`,
    );
  }
  return offset;
}
