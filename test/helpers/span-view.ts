/** A received span as the evaluator sees it, for tests that feed the telemetry's evaluator directly. */
import { SpanKind } from '@opentelemetry/api';
import type { SpanView } from '../../src/telemetry/span-view.ts';

/** An INTERNAL span of `service` taking 0.2 s, with valid ids, changed by `overrides`. */
export function spanView(service: string, overrides: Partial<SpanView>): SpanView {
  return {
    name: 'span',
    service,
    kind: SpanKind.INTERNAL,
    attributes: {},
    durationSeconds: 0.2,
    error: false,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: 'b7ad6b7169203331',
    traceFlags: 1,
    ...overrides,
  };
}
