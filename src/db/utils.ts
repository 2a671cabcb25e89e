/**
 * Small pure helpers of the database service.
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

/** Runs `fn` with tracing suppressed: perf-sidecar's own housekeeping statements make no spans. */
export function untraced<T>(fn: () => Promise<T>): Promise<T> {
  return context.with(suppressTracing(context.active()), fn);
}

export { errorText } from '../errors.ts';

/** `error` if it is an Error, else an Error carrying its text. */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** `value` rounded to `digits` decimal places. */
export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
