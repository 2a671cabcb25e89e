/**
 * The cache's time rules for Redis: telling a timeout from other errors (a timeout means Redis, or
 * the way to it, does not answer, which opens the circuit breaker at once instead of after a run of
 * failures), and how long start-up waits for the first connection.
 */
import { TimeoutError } from '../shared/timeout.ts';

/**
 * Whether a failed Redis round trip timed out: the cache's own timer, or a caller's client's
 * `commandTimeout` (ioredis rejects with "Command timed out").
 */
export function isTimeout(error: unknown): boolean {
  return error instanceof TimeoutError || (error instanceof Error && /timed out/i.test(error.message));
}

/**
 * Longest wait for the first connection, ms: the connect timeout of the cache's own connections
 * (see src/shared/redis.ts), so that a start-up wait ends when the first connection attempt does.
 */
export function startupWaitMs(commandTimeoutMs: number): number {
  return Math.max(commandTimeoutMs * 2, 1000);
}
