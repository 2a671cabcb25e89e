/**
 * Small pure helpers of the database service.
 */
export { errorText } from '../shared/errors.ts';
export { roundTo as round } from '../shared/numbers.ts';
export { untraced } from '../shared/tracing.ts';

/** `error` if it is an Error, else an Error carrying its text. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}
