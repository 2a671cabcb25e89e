/**
 * The app's own SQL, `query` and `executeBatch`: the text, parameters and operations checked
 * before anything is sent (transaction control refused: each call may run on another connection),
 * then run as one monitored call.
 */
import { InvalidArgumentError } from '../shared/errors.ts';
import { checkCallOptions } from './arguments.ts';
import { checkOperations, checkParameters, checkStatementText } from './batch.ts';
import { parseTableName } from './identifiers.ts';
import { ATTR_DB_OPERATION_BATCH_SIZE, OPERATION } from './semconv.ts';
import { isTransactionControl } from './sql.ts';
import type { Statements } from './statements.ts';
import type {
  BatchOperation,
  BatchResult,
  CallOptions,
  QueryOptions,
  Row,
  StatementResult,
} from './types.ts';

/** Longest SQL text `query()` and batch operations accept, in characters. */
export const MAX_QUERY_TEXT_LENGTH = 1_000_000;

/** See the module comment. */
export class Queries {
  readonly #statements: Statements;
  readonly #maxBatchSize: number;

  constructor(statements: Statements, maxBatchSize: number) {
    this.#statements = statements;
    this.#maxBatchSize = maxBatchSize;
  }

  /** See `Database.query`. */
  async query<R extends Row = Row>(
    text: string,
    params?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<StatementResult<R>> {
    const checked = checkStatementText('text', text, MAX_QUERY_TEXT_LENGTH);
    if (isTransactionControl(checked)) {
      throw new InvalidArgumentError(
        'text',
        'is a transaction control statement (BEGIN, COMMIT, ...); each query() may run on another connection',
        'executeBatch() for statements that must share a transaction',
      );
    }
    const values = checkParameters('params', params);
    const opts = checkCallOptions(options);
    if (opts?.table !== undefined) parseTableName('options.table', opts.table);
    return this.#statements.call(OPERATION.query, opts?.table, opts, {}, async (call) => {
      const result = await this.#statements.run(call, checked, values);
      return { command: result.command, rowCount: result.rowCount, rows: result.rows as R[] };
    });
  }

  /** See `Database.executeBatch`. */
  async executeBatch(operations: readonly BatchOperation[], options?: CallOptions): Promise<BatchResult[]> {
    const checked = checkOperations(operations, this.#maxBatchSize, MAX_QUERY_TEXT_LENGTH);
    const opts = checkCallOptions(options);
    if (checked.length === 0) return [];
    const attributes = { [ATTR_DB_OPERATION_BATCH_SIZE]: checked.length };
    return this.#statements.call(OPERATION.executeBatch, undefined, opts, attributes, (call) =>
      this.#statements.batch(call, checked),
    );
  }
}
