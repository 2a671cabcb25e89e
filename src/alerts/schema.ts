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
  'slo_burn_rate',
] as const;
/** An alert type. */
export type AlertType = (typeof ALERT_TYPES)[number];

/**
 * Alert severities: per-event alerts are `warning`, or `critical` at four times the threshold or
 * more; burn-rate alerts (`slo_burn_rate`) are `page` or `ticket`.
 */
export type AlertSeverity = 'warning' | 'critical' | 'page' | 'ticket';

/** Whether a record opens (`firing`) or closes (`resolved`) an episode. Per-event alerts only fire. */
export type AlertStatus = 'firing' | 'resolved';

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
  slo_burn_rate: 'PerfErrorBudgetBurn',
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

/** The error-budget figures of an `slo_burn_rate` record, when it was evaluated. */
export interface AlertSlo {
  /** Share of runs that must be good, in (0, 1). */
  readonly objective: number;
  /** Period of the budget, days. */
  readonly period_days: number;
  /** Long window of the rule that fired (`1h`, `6h`, `3d`). */
  readonly long_window: string;
  /** Short window of that rule (`5m`, `30m`, `6h`). */
  readonly short_window: string;
  /** Burn rate over the long window. */
  readonly long_burn_rate: number;
  /** Burn rate over the short window. */
  readonly short_burn_rate: number;
  /** Burn rate both windows had to reach. */
  readonly burn_threshold: number;
  /** Runs in the long window. */
  readonly long_runs: number;
  /** Bad runs in the long window. */
  readonly long_bad_runs: number;
  /** Share of the period's budget left (1 untouched, 0 spent, negative overspent). */
  readonly budget_remaining: number;
  /** The `id` of the episode's firing record (on both the firing and the resolved record). */
  readonly episode_id: string;
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
  /** `warning`, or `critical` at four times the threshold; `page` or `ticket` for `slo_burn_rate`. */
  readonly severity: AlertSeverity;
  /**
   * `firing`; per-event alerts only ever fire. An `slo_burn_rate` episode is one `firing` record
   * and, when the burn stops, one `resolved` record with the same fingerprint and `endsAt`.
   */
  readonly status: AlertStatus;
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
  /** When a resolved episode ended (ISO 8601, UTC); only on `resolved` records. */
  readonly endsAt?: string;
  /** Error-budget figures; only on `slo_burn_rate` records. */
  readonly slo?: AlertSlo;
  /** Trace of the first occurrence, when it had a valid span context. */
  readonly trace?: AlertTrace;
  /** Correlation id of the first occurrence, when known. */
  readonly correlation_id?: string;
  /** User of the first occurrence, when known. */
  readonly user_id?: string;
  /** How many identical alerts (same fingerprint, same window) this record stands for; at least 1. */
  readonly repeats: number;
}

/** Units of alert figures: seconds, MiB, percent, or `x` (a burn rate: times the sustainable rate). */
export type AlertUnit = 's' | 'MiB' | '%' | 'x';

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
  /** Severity, instead of the one `value` and `threshold` give (burn-rate alerts: page or ticket). */
  readonly severity?: AlertSeverity;
  /**
   * Lifecycle records (burn-rate episodes) give their status: such a record is never folded into
   * another one, however close in time. Default `firing`, folded as usual.
   */
  readonly status?: AlertStatus;
  /** When the episode started (ms since epoch), for a `resolved` record. Default: `timeMs`. */
  readonly startsAtMs?: number;
  /** Error-budget figures (burn-rate alerts). */
  readonly slo?: AlertSlo;
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

/** Fingerprints kept by {@link fingerprintOf}: more label sets than this evict the oldest. */
const FINGERPRINT_CACHE_MAX = 2048;
/** Longest cache key kept (UTF-16 units): a long label set is hashed every time instead. */
const FINGERPRINT_KEY_MAX = 512;
/** Label sets seen recently, keyed by their pairs in insertion order, to their fingerprint. */
const fingerprints = new Map<string, string>();

/**
 * Fingerprint of a label set: SHA-256 over the sorted `name=value` pairs (NUL and SOH separated, so
 * no two label sets share an input), first 16 hex characters. Values, times and trace ids never take
 * part, so identical alerts share a fingerprint.
 *
 * Sorting and hashing took about 3 µs of the 10 µs an alert cost the sink, for label sets that
 * repeat (one per operation or route), so recent ones are cached (bounded, oldest evicted first).
 * The cache key lists the pairs in insertion order, each part prefixed by its length: two different
 * ordered lists of pairs never share a key, and one label set in two orders only takes two entries.
 */
export function fingerprintOf(labels: Readonly<Record<string, string>>): string {
  let key = '';
  for (const name of Object.keys(labels)) {
    const value = `${labels[name] ?? ''}`;
    key += `${name.length}:${name}${value.length}:${value}`;
  }
  if (key.length > FINGERPRINT_KEY_MAX) return hashLabels(labels);
  let fingerprint = fingerprints.get(key);
  if (fingerprint === undefined) {
    fingerprint = hashLabels(labels);
    // Map order is insertion order: the first key is the oldest entry.
    if (fingerprints.size >= FINGERPRINT_CACHE_MAX)
      fingerprints.delete(fingerprints.keys().next().value ?? '');
    fingerprints.set(key, fingerprint);
  }
  return fingerprint;
}

function hashLabels(labels: Readonly<Record<string, string>>): string {
  let text = '';
  for (const key of Object.keys(labels).sort()) text += `${key}\u0000${labels[key] ?? ''}\u0001`;
  return hash('sha256', text).slice(0, 16);
}

/** Largest time value a `Date` holds, ms either side of the epoch. */
const MAX_TIME_MS = 8.64e15;
/** The second {@link isoTimeOf} formatted last, and its text up to the milliseconds. */
let isoSecond = Number.NaN;
let isoPrefix = '';

/**
 * `new Date(ms).toISOString()`, the same text (and the same `RangeError` for an invalid time), about
 * 1 µs cheaper: the text up to the second is reused while the second is unchanged, which it is for
 * most alerts of a busy second.
 */
export function isoTimeOf(ms: number): string {
  // A Date drops the fraction of a millisecond towards zero; out of range it is invalid (throws).
  const t = Math.trunc(ms);
  if (!(Math.abs(t) <= MAX_TIME_MS)) return new Date(t).toISOString();
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    // "2026-12-02T19:30:01.000Z" -> "2026-12-02T19:30:01."
    isoPrefix = new Date(second * 1000).toISOString().slice(0, -4);
    isoSecond = second;
  }
  const milli = t - second * 1000;
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/** Severity from value and threshold: `critical` at four times the threshold or more. */
export function severityOf(value: number, threshold: number): 'warning' | 'critical' {
  return threshold > 0 && value >= threshold * 4 ? 'critical' : 'warning';
}

/**
 * Builds a new record (repeats 1) from an input.
 *
 * @param labels the input's labels, when the caller has already computed them.
 * @param fingerprint their fingerprint, likewise.
 * @param atMs the time of the alert, ms since epoch: `input.timeMs`, else now (the sink passes the
 *   time it read, instead of copying the input to set `timeMs`).
 */
export function buildAlert(
  input: AlertInput,
  labels: Record<string, string> = alertLabels(input),
  fingerprint: string = fingerprintOf(labels),
  atMs: number = input.timeMs ?? Date.now(),
): AlertRecord {
  const at = isoTimeOf(atMs);
  const resolved = input.status === 'resolved';
  return {
    schema: ALERT_SCHEMA,
    // An episode's firing record is the episode: its id is the one the resolved record refers to.
    id: input.status === 'firing' && input.slo ? input.slo.episode_id : randomUUID(),
    fingerprint,
    type: input.type,
    severity: input.severity ?? severityOf(input.value, input.threshold),
    status: input.status ?? 'firing',
    labels,
    annotations: { ...input.annotations, summary: input.summary },
    value: input.value,
    threshold: input.threshold,
    unit: input.unit,
    startsAt: input.startsAtMs === undefined ? at : isoTimeOf(input.startsAtMs),
    lastSeenAt: at,
    ...(resolved ? { endsAt: at } : {}),
    ...(input.slo ? { slo: input.slo } : {}),
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
  severity: z.enum(['warning', 'critical', 'page', 'ticket']),
  status: z.enum(['firing', 'resolved']),
  labels: z
    .record(z.string(), z.string())
    .refine((l) => typeof l.alertname === 'string' && typeof l.service === 'string', {
      message: 'labels must include alertname and service',
    }),
  annotations: z.object({ summary: z.string().min(1) }).catchall(z.string()),
  value: z.number().finite(),
  threshold: z.number().finite(),
  unit: z.enum(['s', 'MiB', '%', 'x']),
  startsAt: isoTime,
  lastSeenAt: isoTime,
  endsAt: isoTime.optional(),
  slo: z
    .strictObject({
      objective: z.number().gt(0).lt(1),
      period_days: z.number().int().min(1),
      long_window: z.string(),
      short_window: z.string(),
      long_burn_rate: z.number().finite(),
      short_burn_rate: z.number().finite(),
      burn_threshold: z.number().finite(),
      long_runs: z.number().finite().min(0),
      long_bad_runs: z.number().finite().min(0),
      budget_remaining: z.number().finite(),
      episode_id: z.uuid(),
    })
    .optional(),
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
