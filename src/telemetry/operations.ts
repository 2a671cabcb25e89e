/**
 * Rules for operation names and targets, shared by tracking, reports and the `PERF_TARGETS`
 * variable. Names become span names and metric label values, so they are bounded like every other
 * label.
 */

/** Longest operation name accepted, in characters. */
export const MAX_OPERATION_NAME_LENGTH = 128;

/** Largest target accepted, in seconds (one day). */
export const MAX_TARGET_SECONDS = 86_400;

/** Accepted form of an operation name, for error messages. */
export const OPERATION_NAME_FORM = `1 to ${MAX_OPERATION_NAME_LENGTH} printable characters`;

/**
 * Checks an operation name: 1 to {@link MAX_OPERATION_NAME_LENGTH} characters, no control characters,
 * not blank. Returns the problem, or `undefined` when the name is acceptable.
 */
export function operationNameProblem(name: unknown): string | undefined {
  if (typeof name !== 'string') return `is ${typeof name}, not a string`;
  if (name.length === 0 || name.trim().length === 0) return 'is empty';
  if (name.length > MAX_OPERATION_NAME_LENGTH) {
    return `is ${name.length} characters long, over the limit of ${MAX_OPERATION_NAME_LENGTH}`;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting control characters is the point
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'contains control characters';
  return undefined;
}
