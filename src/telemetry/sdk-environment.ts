/**
 * The OpenTelemetry SDK's own variables that NodeSDK used to read: `OTEL_SDK_DISABLED`,
 * `OTEL_LOG_LEVEL`, `OTEL_PROPAGATORS`, `OTEL_TRACES_SAMPLER` (with `OTEL_TRACES_SAMPLER_ARG`) and
 * the span limits. perf-sidecar assembles the SDK from its parts (NodeSDK imports every OTLP
 * exporter package up front), so it reads them itself, with the SDK's helpers and the SDK's rules,
 * so that a setting that worked before still works. perf-sidecar's configuration does not parse
 * them (yet): these are the only variables of this part not read through `config.ts`.
 */
import { DiagConsoleLogger, type DiagLogLevel, diag, type TextMapPropagator } from '@opentelemetry/api';
import {
  CompositePropagator,
  diagLogLevelFromString,
  getBooleanFromEnv,
  getNumberFromEnv,
  getStringFromEnv,
  getStringListFromEnv,
  W3CBaggagePropagator,
  W3CTraceContextPropagator,
} from '@opentelemetry/core';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  type SpanLimits,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';

/** Whether `OTEL_SDK_DISABLED` turns the SDK off (nothing registered, as NodeSDK did). */
export function sdkDisabled(): boolean {
  return getBooleanFromEnv('OTEL_SDK_DISABLED');
}

/** Routes the SDK's diagnostics to the console at `OTEL_LOG_LEVEL`, when it is set. */
export function setupDiagnostics(): void {
  const level = getStringFromEnv('OTEL_LOG_LEVEL');
  if (level === undefined) return;
  const logLevel: DiagLogLevel | undefined = diagLogLevelFromString(level);
  diag.setLogger(new DiagConsoleLogger(), logLevel === undefined ? {} : { logLevel });
}

/**
 * The propagator `OTEL_PROPAGATORS` names (`tracecontext`, `baggage`; `none` for none), else W3C
 * trace context and baggage. `b3` and `b3multi` need a package perf-sidecar does not ship: they are
 * reported and left out.
 */
export function propagatorFromEnvironment(): TextMapPropagator | undefined {
  const names = getStringListFromEnv('OTEL_PROPAGATORS');
  if (names === undefined) {
    return new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    });
  }
  if (names.includes('none')) return undefined;
  const propagators: TextMapPropagator[] = [];
  for (const name of new Set(names)) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else diag.warn(`Propagator "${name}" requested through OTEL_PROPAGATORS is unavailable.`);
  }
  if (propagators.length === 0) return undefined;
  return propagators.length === 1 ? propagators[0] : new CompositePropagator({ propagators });
}

/** The sampler `OTEL_TRACES_SAMPLER` names; `undefined` for the SDK's default (parent-based, always on). */
export function samplerFromEnvironment(): Sampler | undefined {
  const name = getStringFromEnv('OTEL_TRACES_SAMPLER');
  if (name === undefined) return undefined;
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(samplerRatio());
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplerRatio()) });
    default:
      diag.error(`unknown OTEL_TRACES_SAMPLER value "${name}", using default`);
      return undefined;
  }
}

function samplerRatio(): number {
  const ratio = getNumberFromEnv('OTEL_TRACES_SAMPLER_ARG');
  if (ratio === undefined || ratio < 0 || ratio > 1) {
    diag.error(`OTEL_TRACES_SAMPLER_ARG is ${ratio ?? 'blank'}, not a ratio from 0 to 1; using 1`);
    return 1;
  }
  return ratio;
}

/** The span limits of the `OTEL_SPAN_*` and `OTEL_ATTRIBUTE_*` variables (unset ones stay default). */
export function spanLimitsFromEnvironment(): SpanLimits {
  const first = (...names: string[]) => {
    for (const name of names) {
      const value = getNumberFromEnv(name);
      if (value !== undefined) return value;
    }
    return undefined;
  };
  const limits: Record<keyof SpanLimits, number | undefined> = {
    attributeCountLimit: first('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT', 'OTEL_ATTRIBUTE_COUNT_LIMIT'),
    attributeValueLengthLimit: first(
      'OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT',
      'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
    ),
    eventCountLimit: first('OTEL_SPAN_EVENT_COUNT_LIMIT'),
    linkCountLimit: first('OTEL_SPAN_LINK_COUNT_LIMIT'),
    attributePerEventCountLimit: first(
      'OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT',
      'OTEL_SPAN_ATTRIBUTE_PER_EVENT_COUNT_LIMIT',
    ),
    attributePerLinkCountLimit: first(
      'OTEL_LINK_ATTRIBUTE_COUNT_LIMIT',
      'OTEL_SPAN_ATTRIBUTE_PER_LINK_COUNT_LIMIT',
    ),
  };
  return Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined));
}
