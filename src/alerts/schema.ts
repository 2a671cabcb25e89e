/**
 * The `alert.v1` record: what other programs read from the alert lists.
 *
 * One JSON object per alert, modelled on Alertmanager's (labels identify, annotations describe,
 * `startsAt`) plus perf-sidecar's figures (`value`, `threshold`, `unit`) and the trace it came from.
 */
import { hash, randomUUID } from 'node:crypto';
import {
  isSpanContextValid,
  isValidSpanId,
  isValidTraceId,
  type SpanContext,
  TraceFlags,
} from '@opentelemetry/api';
import { z } from 'zod';

/** Schema identifier carried by every record. Bumped only on incompatible change. */
export const ALERT_SCHEMA = 'alert.v1';

/** Alert types. */
export const ALERT_TYPES = [
  'target_exceeded',
  'slow_request',
  'slow_query',
  'high_memory',
  'high_cpu',
] as const;
/** An alert type. */
export type AlertType = (typeof ALERT_TYPES)[number];

/** Alert severities: `critical` at four times the threshold or more. */
export type AlertSeverity = 'warning' | 'critical';

/** Base names of the two alert lists (before `ALERT_KEY_PREFIX`). */
export const ALERT_LISTS = {
  performance: 'performance_alerts',
  memory: 'memory_alerts',
} as const;

/** Base name of an alert list. */
export type AlertListName = (typeof ALERT_LISTS)[keyof typeof ALERT_LISTS];

/** `alertname` label per type (Prometheus/Alertmanager style). */
export const ALERT_NAMES: Readonly<Record<AlertType, string>> = {
  target_exceeded: 'PerfTargetExceeded',
  slow_request: 'SlowRequest',
  slow_query: 'SlowQuery',
  high_memory: 'HighMemory',
  high_cpu: 'HighCpu',
};

/** The list an alert type is written to (base name). */
export function listForType(type: AlertType): AlertListName {
  return type === 'high_memory' ? ALERT_LISTS.memory : ALERT_LISTS.performance;
}

/** Trace link of an alert; present only when the span context was valid. */
export interface AlertTrace {
  /** 32 lowercase hex characters. */
  readonly trace_id: string;
  /** 16 lowercase hex characters. */
  readonly span_id: string;
  /** Whether the trace was sampled (exported). */
  readonly sampled: boolean;
}

/** The trace link of a span context, or `undefined` when the context is not valid. */
export function alertTraceOf(context: SpanContext): AlertTrace | undefined {
  if (!isSpanContextValid(context)) return undefined;
  return {
    trace_id: context.traceId,
    span_id: context.spanId,
    sampled: (context.traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
  };
}

/**
 * {@link alertTraceOf} from the ids themselves (a span received over OTLP has no `SpanContext`):
 * `undefined` unless both ids are valid (lowercase hex, not all zeros).
 */
export function alertTraceOfIds(traceId: string, spanId: string, traceFlags: number): AlertTrace | undefined {
  if (!isValidTraceId(traceId) || !isValidSpanId(spanId)) return undefined;
  return {
    trace_id: traceId,
    span_id: spanId,
    sampled: (traceFlags & TraceFlags.SAMPLED) === TraceFlags.SAMPLED,
  };
}

/** One `alert.v1` record. */
export interface AlertRecord {
  /** Always {@link ALERT_SCHEMA}. */
  readonly schema: typeof ALERT_SCHEMA;
  /** Unique per written record (a UUID). A record updated with more repeats keeps its id. */
  readonly id: string;
  /** Hash of the identifying labels only (alertname, service, operation or route). */
  readonly fingerprint: string;
  /** Alert type. */
  readonly type: AlertType;
  /** `warning`, or `critical` at four times the threshold. */
  readonly severity: AlertSeverity;
  /** Always `firing`: perf-sidecar records events, it does not track resolution. */
  readonly status: 'firing';
  /** Identifying labels: `alertname`, `service`, and `operation` or `route` (plus `method`). */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * Human text; `summary` is one sentence with the figures. Producers may add more (a `slow_query`
   * carries `statement`, the statement text without parameter values).
   */
  readonly annotations: { readonly summary: string; readonly [name: string]: string };
  /** Observed value, in `unit`. */
  readonly value: number;
  /** Threshold or target the value was compared with, in `unit`. */
  readonly threshold: number;
  /** Unit of `value` and `threshold`: `s` (seconds), `MiB` or `%`. */
  readonly unit: AlertUnit;
  /** When the first folded occurrence happened (ISO 8601, UTC). */
  readonly startsAt: string;
  /** When the latest folded occurrence happened (ISO 8601, UTC). Equal to `startsAt` when `repeats` is 1. */
  readonly lastSeenAt: string;
  /** Trace of the first occurrence, when it had a valid span context. */
  readonly trace?: AlertTrace;
  /** Correlation id of the first occurrence, when known. */
  readonly correlation_id?: string;
  /** User of the first occurrence, when known. */
  readonly user_id?: string;
  /** How many identical alerts (same fingerprint, same window) this record stands for; at least 1. */
  readonly repeats: number;
}

/** Units of alert figures. */
export type AlertUnit = 's' | 'MiB' | '%';

/** What a producer supplies; the sink fills in schema, id, fingerprint, severity and times. */
export interface AlertInput {
  /** Alert type. */
  readonly type: AlertType;
  /** `service.name` of the emitting process. */
  readonly service: string;
  /** Operation name (for target_exceeded, slow_query). */
  readonly operation?: string;
  /** Route template (for slow_request), never a raw path. */
  readonly route?: string;
  /** HTTP method (for slow_request). */
  readonly method?: string;
  /** Observed value, in `unit`. */
  readonly value: number;
  /** Threshold it exceeded, in `unit`. */
  readonly threshold: number;
  /** Unit of value and threshold. */
  readonly unit: AlertUnit;
  /** One human sentence with the figures. */
  readonly summary: string;
  /**
   * Extra identifying labels (a `slow_query` has `table` and `statement_hash`). They feed the
   * fingerprint, so keep them few and low-cardinality; `alertname` and `service` cannot be replaced.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /** Extra descriptive annotations next to `summary`; never part of the fingerprint. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Trace link, when the span context is valid. */
  readonly trace?: AlertTrace;
  /** Correlation id. */
  readonly correlationId?: string;
  /** User id. */
  readonly userId?: string;
  /** When it happened (ms since epoch); defaults to now. */
  readonly timeMs?: number;
}

/** Labels that identify an alert: these, and only these, feed the fingerprint. */
export function alertLabels(input: AlertInput): Record<string, string> {
  const labels: Record<string, string> = {
    ...input.labels,
    alertname: ALERT_NAMES[input.type],
    service: input.service,
  };
  if (input.operation !== undefined) labels.operation = input.operation;
  if (input.route !== undefined) labels.route = input.route;
  if (input.method !== undefined) labels.method = input.method;
  return labels;
}

/**
 * Fingerprint of a label set: SHA-256 over the sorted `name=value` pairs (NUL and SOH separated, so
 * no two label sets share an input), first 16 hex characters. Values, times and trace ids never take
 * part, so identical alerts share a fingerprint.
 */
export function fingerprintOf(labels: Readonly<Record<string, string>>): string {
  let text = '';
  for (const key of Object.keys(labels).sort()) text += `${key}\u0000${labels[key] ?? ''}\u0001`;
  return hash('sha256', text).slice(0, 16);
}

/** Severity from value and threshold: `critical` at four times the threshold or more. */
export function severityOf(value: number, threshold: number): AlertSeverity {
  return threshold > 0 && value >= threshold * 4 ? 'critical' : 'warning';
}

/**
 * Builds a new record (repeats 1) from an input.
 *
 * @param labels the input's labels, when the caller has already computed them.
 * @param fingerprint their fingerprint, likewise.
 */
export function buildAlert(
  input: AlertInput,
  labels: Record<string, string> = alertLabels(input),
  fingerprint: string = fingerprintOf(labels),
): AlertRecord {
  const at = new Date(input.timeMs ?? Date.now()).toISOString();
  return {
    schema: ALERT_SCHEMA,
    id: randomUUID(),
    fingerprint,
    type: input.type,
    severity: severityOf(input.value, input.threshold),
    status: 'firing',
    labels,
    annotations: { ...input.annotations, summary: input.summary },
    value: input.value,
    threshold: input.threshold,
    unit: input.unit,
    startsAt: at,
    lastSeenAt: at,
    ...(input.trace ? { trace: input.trace } : {}),
    ...(input.correlationId !== undefined ? { correlation_id: input.correlationId } : {}),
    ...(input.userId !== undefined ? { user_id: input.userId } : {}),
    repeats: 1,
  };
}

const isoTime = z.iso.datetime({ offset: false });

/**
 * Zod schema of an `alert.v1` record, strict (unknown keys rejected). Consumers can use it to
 * validate what they read; the tests check every written record against it.
 */
export const alertRecordSchema = z.strictObject({
  schema: z.literal(ALERT_SCHEMA),
  id: z.uuid(),
  fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
  type: z.enum(ALERT_TYPES),
  severity: z.enum(['warning', 'critical']),
  status: z.literal('firing'),
  labels: z
    .record(z.string(), z.string())
    .refine((l) => typeof l.alertname === 'string' && typeof l.service === 'string', {
      message: 'labels must include alertname and service',
    }),
  annotations: z.object({ summary: z.string().min(1) }).catchall(z.string()),
  value: z.number().finite(),
  threshold: z.number().finite(),
  unit: z.enum(['s', 'MiB', '%']),
  startsAt: isoTime,
  lastSeenAt: isoTime,
  trace: z
    .strictObject({
      trace_id: z.string().regex(/^[0-9a-f]{32}$/),
      span_id: z.string().regex(/^[0-9a-f]{16}$/),
      sampled: z.boolean(),
    })
    .optional(),
  correlation_id: z.string().optional(),
  user_id: z.string().optional(),
  repeats: z.number().int().min(1),
});
