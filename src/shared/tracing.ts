/** Tracing helpers shared by every part of perf-sidecar. */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';

/**
 * Runs `fn` with tracing suppressed: perf-sidecar's own housekeeping (alert writes, rollups, pings,
 * catalogue reads) makes no spans, so it never feeds back into the target processor or the traces.
 */
export function untraced<T>(fn: () => T): T {
  return context.with(suppressTracing(context.active()), fn);
}
