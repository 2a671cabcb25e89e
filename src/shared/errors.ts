/**
 * Error classes shared by every part of perf-sidecar.
 *
 * Every error carries a stable `code` (for programs) and a message that names the bad value and the
 * expected form (for people). Messages never contain secrets: callers redact URLs before they build
 * one.
 */

/** Stable error codes. Programs should branch on these, never on message text. */
export type PerfSidecarErrorCode =
  | 'PERF_CACHE_CLOSED'
  | 'PERF_CACHE_FACTORY_TIMEOUT'
  | 'PERF_CONFIG_INVALID'
  | 'PERF_INVALID_ARGUMENT'
  | 'PERF_NOT_STARTED'
  | 'PERF_PEER_MISSING'
  | 'PERF_REDIS_UNAVAILABLE'
  | 'PERF_DB_POOL_EXHAUSTED'
  | 'PERF_DB_UNAVAILABLE'
  | 'PERF_DB_BATCH_FAILED'
  | 'PERF_DB_CLOSED'
  | 'PERF_DB_EMBEDDED_FAILED'
  | 'PERF_RULES_INVALID';

/** Base class of every error perf-sidecar throws on purpose. */
export class PerfSidecarError extends Error {
  /** Stable machine-readable code. */
  readonly code: PerfSidecarErrorCode;

  constructor(code: PerfSidecarErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A public function was called with an argument it cannot accept. The message names the argument,
 * what was wrong with it and what was expected.
 */
export class InvalidArgumentError extends PerfSidecarError {
  /** Name of the offending argument or option, for example `options.targetSeconds`. */
  readonly argument: string;

  constructor(argument: string, problem: string, expected: string) {
    super('PERF_INVALID_ARGUMENT', `${argument}: ${problem}; expected ${expected}`);
    this.argument = argument;
  }
}

/** Describes a value for an error message without echoing large or multi-line input verbatim. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') {
    const shown = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    return `${JSON.stringify(shown)}${value.length > 64 ? ` (${value.length} characters)` : ''}`;
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') {
    return String(value);
  }
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (typeof value === 'function') return 'a function';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

/** Longest correlation or user id accepted, in characters. */
export const MAX_ID_LENGTH = 128;

/** The accepted form of an id, as errors say it. */
export const ID_FORM = `a string of 1 to ${MAX_ID_LENGTH} printable characters`;

/** Whether `text` is an id: 1 to {@link MAX_ID_LENGTH} characters, none of them a control character. */
export function isId(text: string): boolean {
  return text.length > 0 && text.length <= MAX_ID_LENGTH && !/\p{Cc}/u.test(text);
}

/**
 * Checks an optional id (correlation id, user id): `undefined`, or a string (or finite number) of 1
 * to {@link MAX_ID_LENGTH} printable characters. Returns it as a string.
 *
 * @throws {InvalidArgumentError} naming `argument` otherwise.
 */
export function checkOptionalId(argument: string, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === 'number' && Number.isFinite(value) ? String(value) : value;
  if (typeof text !== 'string' || !isId(text)) {
    throw new InvalidArgumentError(argument, `is ${describeValue(value)}`, ID_FORM);
  }
  return text;
}

/** A readable text for any thrown value, including Node's AggregateError (whose message is empty). */
export function errorText(error: unknown): string {
  if (error instanceof AggregateError && error.message === '') {
    return error.errors.map((e) => errorText(e)).join('; ') || 'unknown error';
  }
  if (error instanceof Error) return error.message || (error as NodeJS.ErrnoException).code || error.name;
  return String(error);
}
