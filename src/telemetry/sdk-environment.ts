/**
 * The OpenTelemetry SDK's own settings (`OTEL_SDK_DISABLED`, `OTEL_LOG_LEVEL`, `OTEL_PROPAGATORS`,
 * `OTEL_TRACES_SAMPLER` with its ratio, the span limits), turned into SDK parts. The configuration
 * reads and checks the variables; perf-sidecar assembles the SDK from its parts (NodeSDK imports
 * every OTLP exporter package up front), so it builds what NodeSDK built from them.
 */
import { DiagConsoleLogger, DiagLogLevel, diag, type TextMapPropagator } from '@opentelemetry/api';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { B3InjectEncoding, B3Propagator } from '@opentelemetry/propagator-b3';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  ParentBasedSampler,
  type Sampler,
  TraceIdRatioBasedSampler,
} from '@opentelemetry/sdk-trace';
import type { PerfSidecarConfig } from '../config.ts';

type SdkSettings = PerfSidecarConfig['sdk'];

const DIAG_LEVELS: Readonly<Record<NonNullable<SdkSettings['logLevel']>, DiagLogLevel>> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** Routes the SDK's diagnostics to the console at `OTEL_LOG_LEVEL`, when it is set. */
export function setupDiagnostics(sdk: SdkSettings): void {
  if (sdk.logLevel === undefined) return;
  diag.setLogger(new DiagConsoleLogger(), { logLevel: DIAG_LEVELS[sdk.logLevel] });
}

/** The propagator `OTEL_PROPAGATORS` names (default W3C trace context and baggage); `none`: none. */
export function propagatorOf(sdk: SdkSettings): TextMapPropagator | undefined {
  const propagators: TextMapPropagator[] = [];
  for (const name of sdk.propagators) {
    if (name === 'tracecontext') propagators.push(new W3CTraceContextPropagator());
    else if (name === 'baggage') propagators.push(new W3CBaggagePropagator());
    else if (name === 'b3') propagators.push(new B3Propagator());
    else if (name === 'b3multi') {
      propagators.push(new B3Propagator({ injectEncoding: B3InjectEncoding.MULTI_HEADER }));
    }
  }
  if (propagators.length === 0) return undefined;
  return propagators.length === 1 ? propagators[0] : new CompositePropagator({ propagators });
}

/** The sampler `OTEL_TRACES_SAMPLER` names (default parent-based, always on). */
export function samplerOf(sdk: SdkSettings): Sampler {
  switch (sdk.sampler) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(sdk.samplerRatio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(sdk.samplerRatio) });
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}
