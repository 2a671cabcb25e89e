/**
 * The neutral view of a finished span that target evaluation works on, whoever made the span: the
 * in-process SDK (`TargetSpanProcessor`) or a service that exported it over OTLP (`src/ingest`).
 * One evaluator reads these, so targets, breaches, Apdex and alerts have one implementation.
 */
import type { Attributes, SpanKind } from '@opentelemetry/api';

import type { ObjectiveInput } from '../slo/index.ts';

/** A finished span, as target evaluation sees it. */
export interface SpanView {
  /** Span name. */
  readonly name: string;
  /** `service.name` of the span's resource (the sidecar's own for in-process spans). */
  readonly service: string;
  /** Span kind, in the OpenTelemetry API's numbering (OTLP's minus one; unspecified is INTERNAL). */
  readonly kind: SpanKind;
  /** Span attributes (not the resource's). */
  readonly attributes: Attributes;
  /** End minus start, seconds (never negative: a receiver refuses such spans before this). */
  readonly durationSeconds: number;
  /** Whether the span's status is ERROR. */
  readonly error: boolean;
  /** 32 lowercase hex digits. */
  readonly traceId: string;
  /** 16 lowercase hex digits. */
  readonly spanId: string;
  /** W3C trace flags (bit 0: sampled). */
  readonly traceFlags: number;
}

/** What evaluation concluded about one span. */
export interface Verdict {
  /** The operation it is reported under. */
  readonly operation: string;
  /** Its target, seconds; `undefined` when it has none (recorded, never breaching). */
  readonly targetSeconds: number | undefined;
  /** Whether it took longer than its target. */
  readonly exceeded: boolean;
}

/** What a target rule gives a span it matches. */
export interface RuleMatch {
  /** The span's target, seconds (positive). */
  readonly targetSeconds: number;
  /** The operation the span is reported under; `undefined` keeps the span name. */
  readonly operation: string | undefined;
  /** The rule's kind, when it named one (objectives can be given per kind). */
  readonly kind?: string;
  /** The rule's objective, when it gave one. */
  readonly objective?: ObjectiveInput;
}

/**
 * The target rules in effect (from `PERF_RULES_FILE`): what a span without `perf.target_seconds`
 * is held against. The first matching rule wins.
 */
export interface TargetRuleSet {
  /** The first rule matching `span`, or `undefined`. Synchronous; called once per such span. */
  match(span: SpanView): RuleMatch | undefined;
}

/** Evaluates spans against their targets (the telemetry's `SpanEvaluator`; the receivers call it). */
export interface TraceEvaluator {
  /** The verdict, or `undefined` for a span that is neither an operation nor has a target. Never throws. */
  evaluate(span: SpanView): Verdict | undefined;
}
