/**
 * The view of an in-process span that the evaluator reads: the SDK's `ReadableSpan` seen as a
 * {@link SpanView} without copying it.
 */
import { type Attributes, type SpanKind, SpanStatusCode } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import type { SpanView } from './span-view.ts';

/**
 * A finished in-process span as a {@link SpanView}: read through getters, so that one instance
 * serves every span (set {@link span} first) and the processor's path allocates nothing.
 */
export class ReadableSpanView implements SpanView {
  /** The span read; set before each evaluation, cleared after. */
  span: ReadableSpan | undefined;
  /** The own service's name. */
  readonly service: string;

  /** @param service the own service's name: every in-process span is the own service's. */
  constructor(service: string) {
    this.service = service;
  }

  get #span(): ReadableSpan {
    return this.span as ReadableSpan;
  }
  get name(): string {
    return this.#span.name;
  }
  get kind(): SpanKind {
    return this.#span.kind;
  }
  get attributes(): Attributes {
    return this.#span.attributes;
  }
  get durationSeconds(): number {
    const duration = this.#span.duration;
    return duration[0] + duration[1] / 1e9;
  }
  get error(): boolean {
    return this.#span.status.code === SpanStatusCode.ERROR;
  }
  get traceId(): string {
    return this.#span.spanContext().traceId;
  }
  get spanId(): string {
    return this.#span.spanContext().spanId;
  }
  get traceFlags(): number {
    return this.#span.spanContext().traceFlags;
  }
}
