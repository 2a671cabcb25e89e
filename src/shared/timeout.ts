/**
 * Deadlines for promises perf-sidecar waits on but does not control (an SDK shutdown, a health
 * query, an EXPLAIN).
 */

/** Rejected by {@link withTimeout} when the deadline passes first. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Settles like `promise`, or rejects with a {@link TimeoutError} after `ms`. The promise itself goes
 * on (its rejection, if any, is handled here); the timer never keeps the process alive.
 *
 * @param what what is being waited for, for the message.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
