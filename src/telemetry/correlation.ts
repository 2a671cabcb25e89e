/**
 * The correlation id of the work in progress, carried in the OpenTelemetry context, so that
 * operations tracked inside a request handler inherit the request's id without passing it along.
 */
import { type Context, context, createContextKey } from '@opentelemetry/api';

const CORRELATION_ID = createContextKey('perf-sidecar correlation id');

/** Runs `fn` with `correlationId` as the active correlation id (the performance middleware does). */
export function withCorrelationId<T>(correlationId: string, fn: () => T): T {
  return context.with(context.active().setValue(CORRELATION_ID, correlationId), fn);
}

/**
 * `parent` with `correlationId` as its correlation id: for the middleware, which enters one context
 * holding both its server span and the id (one `context.with` per request instead of two).
 */
export function withCorrelationIdIn(parent: Context, correlationId: string): Context {
  return parent.setValue(CORRELATION_ID, correlationId);
}

/** The active correlation id, if any. `trackOperation` uses it when its options give none. */
export function activeCorrelationId(): string | undefined {
  const value = context.active().getValue(CORRELATION_ID);
  return typeof value === 'string' ? value : undefined;
}
