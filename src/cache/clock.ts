/**
 * The monotonic clock of the cache's hot paths (every memory hit reads it). `performance` is a lazy
 * accessor of the global object, run again on every `performance.now()` written out; read once here,
 * each call is only the engine's fast call of `now`.
 */
const clock = performance;

/** `performance.now()`: ms since this process started, monotonic. */
export function monotonicNow(): number {
  return clock.now();
}
