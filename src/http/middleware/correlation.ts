/**
 * Correlation ids: taken from the caller's `x-correlation-id` header when it is well formed, made
 * up otherwise, so that one id follows a request through spans, logs, alerts and the response.
 */
import { randomUUID } from 'node:crypto';

/** Request and response header carrying the id. */
export const CORRELATION_HEADER = 'x-correlation-id';

/** Longest accepted incoming id, characters. */
export const MAX_CORRELATION_ID_LENGTH = 128;

// Letters, digits and the punctuation UUIDs, ULIDs and W3C-style ids use; nothing that could split
// a log line or a header.
const CORRELATION_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/**
 * The incoming id when it is 1 to {@link MAX_CORRELATION_ID_LENGTH} characters from
 * `[A-Za-z0-9._:@/+=-]`, else a new random UUID. A bad id is replaced, not rejected: a request
 * must not fail because of a tracing header.
 */
export function correlationIdFrom(header: string | undefined | null): string {
  return header !== undefined && header !== null && CORRELATION_ID.test(header) ? header : randomUUID();
}
