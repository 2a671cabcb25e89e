/**
 * Batches: operations checked before any SQL runs, then run in one transaction on one connection.
 *
 * With pg's pipeline mode the whole transaction (BEGIN, every statement, COMMIT) is written at
 * once and the answers read back in order: one round trip instead of one per statement. If a
 * statement fails, PostgreSQL refuses the rest of the transaction ("current transaction is
 * aborted") and answers the COMMIT with ROLLBACK, so all-or-nothing holds without a round trip in
 * between. Without pipeline mode each statement is awaited and a failure sends ROLLBACK.
 *
 * Every statement uses the extended protocol (`queryMode: 'extended'`), which PostgreSQL runs as
 * exactly one statement: `INSERT ...; COMMIT` in one text is an error, not a hidden commit.
 * Transaction control statements are refused up front for the same reason.
 *
 * The checks of texts, parameters and operations are hand-written (not zod schemas): they run on
 * every `query()` and `executeBatch()` call.
 */
import type { PoolClient, QueryConfig, QueryResult } from 'pg';
import { describeValue, InvalidArgumentError } from '../shared/errors.ts';
import { isTransactionControl } from './sql.ts';
import type { BatchOperation, BatchResult, Row } from './types.ts';

/** Longest label accepted, in characters. */
const MAX_LABEL_LENGTH = 128;
/** Most parameters one statement can carry (the protocol's Bind message counts them in 16 bits). */
export const MAX_PARAMETERS = 65_535;

/** A checked operation: its text, values and label. */
export interface CheckedOperation {
  readonly text: string;
  readonly values: readonly unknown[];
  readonly label: string | undefined;
}

/**
 * Checks a parameter list.
 *
 * @throws {InvalidArgumentError} when it is not an array or holds more than {@link MAX_PARAMETERS}.
 */
export function checkParameters(argument: string, values: unknown): readonly unknown[] {
  if (values === undefined) return [];
  if (!Array.isArray(values) || values.length > MAX_PARAMETERS) {
    throw new InvalidArgumentError(
      argument,
      `is ${describeValue(values)}`,
      `an array of at most ${MAX_PARAMETERS} parameter values`,
    );
  }
  return values;
}

/**
 * Checks statement text.
 *
 * @throws {InvalidArgumentError} when it is not a non-blank string of at most `maxLength` characters.
 */
export function checkStatementText(argument: string, text: unknown, maxLength: number): string {
  if (typeof text !== 'string' || text.trim().length === 0 || text.length > maxLength) {
    throw new InvalidArgumentError(
      argument,
      typeof text === 'string' && text.length > maxLength
        ? `is ${text.length} characters long`
        : `is ${describeValue(text)}`,
      `SQL text of 1 to ${maxLength} characters`,
    );
  }
  return text;
}

/**
 * Checks every operation before anything is sent.
 *
 * @throws {InvalidArgumentError} naming the first bad operation by index.
 */
export function checkOperations(
  operations: unknown,
  maxBatchSize: number,
  maxTextLength: number,
): CheckedOperation[] {
  if (!Array.isArray(operations) || operations.length > maxBatchSize) {
    throw new InvalidArgumentError(
      'operations',
      `is ${describeValue(operations)}`,
      `an array of at most ${maxBatchSize} operations ({ text, values?, label? })`,
    );
  }
  return operations.map((operation: unknown, index): CheckedOperation => {
    const where = `operations[${index}]`;
    if (typeof operation !== 'object' || operation === null || Array.isArray(operation)) {
      throw new InvalidArgumentError(
        where,
        `is ${describeValue(operation)}`,
        'an object { text, values?, label? }',
      );
    }
    const { text, values, label } = operation as Partial<BatchOperation>;
    const checkedText = checkStatementText(`${where}.text`, text, maxTextLength);
    if (isTransactionControl(checkedText)) {
      throw new InvalidArgumentError(
        `${where}.text`,
        'is a transaction control statement (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, ...)',
        'a statement that runs inside the batch transaction: the batch itself begins and commits it',
      );
    }
    if (
      label !== undefined &&
      (typeof label !== 'string' ||
        label.length === 0 ||
        label.length > MAX_LABEL_LENGTH ||
        /\p{Cc}/u.test(label))
    ) {
      throw new InvalidArgumentError(
        `${where}.label`,
        `is ${describeValue(label)}`,
        `1 to ${MAX_LABEL_LENGTH} printable characters`,
      );
    }
    return { text: checkedText, values: checkParameters(`${where}.values`, values), label };
  });
}

/** How a batch ended. */
export type BatchOutcome =
  | { readonly ok: true; readonly results: BatchResult[] }
  | {
      readonly ok: false;
      /** Index of the failing operation; `undefined` when the transaction itself failed. */
      readonly index: number | undefined;
      readonly error: unknown;
    };

/** pg's query config with the (untyped) protocol switch. */
type ExtendedQueryConfig = QueryConfig<unknown[]> & { readonly queryMode: 'extended' };

function extended(operation: CheckedOperation): ExtendedQueryConfig {
  return { text: operation.text, values: [...operation.values], queryMode: 'extended' };
}

function resultOf(operation: CheckedOperation, result: QueryResult<Row>): BatchResult {
  const base = { command: result.command, rowCount: result.rowCount, rows: result.rows };
  return operation.label === undefined ? base : { label: operation.label, ...base };
}

/**
 * Runs the operations in one transaction on `client` (see the module comment). Never rejects:
 * failures come back as an outcome naming the failing index.
 *
 * @param pipelined whether `client` is in pipeline mode (write everything at once).
 */
export async function runBatch(
  client: PoolClient,
  operations: readonly CheckedOperation[],
  pipelined: boolean,
): Promise<BatchOutcome> {
  return pipelined ? runPipelined(client, operations) : runSequential(client, operations);
}

async function runPipelined(
  client: PoolClient,
  operations: readonly CheckedOperation[],
): Promise<BatchOutcome> {
  // No await until everything is written: that is what makes it one round trip.
  const begin = client.query('BEGIN');
  const statements = operations.map((operation) => client.query<Row>(extended(operation)));
  const commit = client.query('COMMIT');
  const [began, ...rest] = await Promise.allSettled([begin, ...statements, commit]);
  const committed = rest.pop();
  if (began?.status === 'rejected') return { ok: false, index: undefined, error: began.reason };
  const failed = rest.findIndex((settled) => settled.status === 'rejected');
  if (failed !== -1) {
    const settled = rest[failed];
    return { ok: false, index: failed, error: settled?.status === 'rejected' ? settled.reason : undefined };
  }
  if (committed?.status === 'rejected') return { ok: false, index: undefined, error: committed.reason };
  if (committed?.status === 'fulfilled' && committed.value.command !== 'COMMIT') {
    return {
      ok: false,
      index: undefined,
      error: new Error(`the server answered COMMIT with ${committed.value.command}`),
    };
  }
  const results = rest.map((settled, i) =>
    resultOf(operations[i] as CheckedOperation, (settled as PromiseFulfilledResult<QueryResult<Row>>).value),
  );
  return { ok: true, results };
}

async function runSequential(
  client: PoolClient,
  operations: readonly CheckedOperation[],
): Promise<BatchOutcome> {
  try {
    await client.query('BEGIN');
  } catch (error) {
    return { ok: false, index: undefined, error };
  }
  const results: BatchResult[] = [];
  for (const [index, operation] of operations.entries()) {
    try {
      results.push(resultOf(operation, await client.query<Row>(extended(operation))));
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      return { ok: false, index, error };
    }
  }
  try {
    const committed = await client.query('COMMIT');
    if (committed.command !== 'COMMIT') {
      return {
        ok: false,
        index: undefined,
        error: new Error(`the server answered COMMIT with ${committed.command}`),
      };
    }
  } catch (error) {
    return { ok: false, index: undefined, error };
  }
  return { ok: true, results };
}
