/**
 * Tracking overhead, against raw OpenTelemetry on the same SDK:
 * 1. trackOperation around a no-op vs `tracer.startActiveSpan` around the same no-op: with its
 *    defaults for an operation with a table target (`validation`, 5 s: resources measured) and for
 *    one without a target (not measured), and with `measureResources: false`;
 * 2. span end with the target processor vs without (no alert firing), recording into
 *    perf-sidecar's own aggregation as `startTelemetry` sets it up, and into SDK instruments (a
 *    host's own SDK);
 * 3. span end of a span without a target, with 0, 100 and 1000 target rules that do not match it,
 *    vs the target processor without rules;
 * 4. RSS growth after 100,000 distinct operation names (`name-flood.ts`, child processes).
 * Each case is compared with its baseline in a table of its own (see `benchTracking`).
 */

import { trace } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { loadConfig } from '../src/config.ts';
import {
  startTelemetry,
  stopTelemetry,
  TargetSpanProcessor,
  trackOperation,
} from '../src/telemetry/index.ts';
import { OperationMetrics } from '../src/telemetry/operation-metrics.ts';
import { InProcessMetricReader } from '../src/telemetry/reader.ts';
import { parseRules } from '../src/telemetry/rules.ts';
import { ATTR_PERF_OPERATION, ATTR_PERF_TARGET_SECONDS } from '../src/telemetry/semconv.ts';
import { durationBoundaries } from '../src/telemetry/targets.ts';
import { compare, DiscardExporter } from './lib.ts';

function batchProcessor(): BatchSpanProcessor {
  return new BatchSpanProcessor({
    exporter: new DiscardExporter(),
    maxQueueSize: 65_536,
    maxExportBatchSize: 4096,
    scheduledDelayMillis: 50,
  });
}

export async function benchTracking(): Promise<void> {
  const config = loadConfig({ LOG_LEVEL: 'error' });
  startTelemetry({ config, instrumentations: [], traceExporter: new DiscardExporter() });
  // Resource detection settles asynchronously; let it, as a real service would have.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const raw = trace.getTracer('bench-raw');
  const noop = () => 1;
  // What trackOperation puts on a span (its target makes the target processor evaluate it too).
  const sameAttributes = { [ATTR_PERF_OPERATION]: 'validation', [ATTR_PERF_TARGET_SECONDS]: 5 };
  const asyncNoop = async () => 1;

  const baseline = {
    name: 'raw tracer.startActiveSpan (sync no-op)',
    run: () =>
      raw.startActiveSpan('validation', (s) => {
        s.end();
        return 1;
      }),
  };
  // Each case against the baseline in a table of its own: the garbage one case leaves (the
  // resource measurement's heap statistics objects) is then not collected in another's time.
  for (const against of [
    {
      name: 'raw startActiveSpan, same attributes as trackOperation',
      run: () =>
        raw.startActiveSpan('validation', { attributes: sameAttributes }, (s) => {
          s.end();
          return 1;
        }),
    },
    {
      name: 'trackOperation (sync no-op, defaults; 5 s target: resources measured)',
      run: () => trackOperation('validation', noop),
    },
    {
      name: 'trackOperation (sync no-op, defaults; no target: not measured)',
      run: () => trackOperation('lookup', noop),
    },
    {
      name: 'trackOperation, 5 s target, measureResources: false',
      run: () => trackOperation('validation', { measureResources: false }, noop),
    },
  ]) {
    await compare(
      'trackOperation vs raw startActiveSpan (same SDK from startTelemetry, BatchSpanProcessor, target processor registered)',
      [baseline, against],
      { yieldEachBatch: true },
    );
  }

  const asyncBaseline = {
    name: 'raw tracer.startActiveSpan (async no-op)',
    run: () =>
      raw.startActiveSpan('validation', async (s) => {
        const v = await asyncNoop();
        s.end();
        return v;
      }),
  };
  for (const against of [
    {
      name: 'trackOperation (async no-op, defaults; 5 s target)',
      run: () => trackOperation('validation', asyncNoop),
    },
    {
      name: 'trackOperation async, measureResources: false',
      run: () => trackOperation('validation', { measureResources: false }, asyncNoop),
    },
  ]) {
    await compare('async: trackOperation vs raw startActiveSpan', [asyncBaseline, against], {
      yieldEachBatch: true,
    });
  }
  await stopTelemetry();
}

/**
 * A tracer provider with the target processor in front of a batch processor. `own`: the
 * processor records into perf-sidecar's own aggregation, bound to the provider's reader, as
 * `startTelemetry` sets it up; otherwise into SDK instruments (a host's own SDK).
 */
function targetTracing(own: boolean) {
  const operationMetrics = own ? new OperationMetrics() : undefined;
  const reader = new InProcessMetricReader();
  const meterProvider = new MeterProvider({ readers: [operationMetrics?.bind(reader) ?? reader] });
  const tracing = new TracerProvider({
    spanProcessors: [
      new TargetSpanProcessor({
        serviceName: 'bench',
        maxOperations: 1000,
        boundaries: durationBoundaries([2, 5, 30, 120]),
        meterProvider,
        ...(operationMetrics ? { operationMetrics } : {}),
        alerts: { emit: () => undefined },
      }),
      batchProcessor(),
    ],
  });
  return { tracing, meterProvider };
}

/**
 * Span start+end with and without the target processor. The two ways it records are compared in
 * tables of their own, so that the garbage one leaves is not collected in the other's time.
 */
export async function benchProcessor(): Promise<void> {
  const attributes = { [ATTR_PERF_OPERATION]: 'validation', [ATTR_PERF_TARGET_SECONDS]: 5 };
  for (const own of [true, false]) {
    const without = new TracerProvider({ spanProcessors: [batchProcessor()] });
    const target = targetTracing(own);
    const plain = without.getTracer('bench');
    const evaluated = target.tracing.getTracer('bench');
    await compare(
      `span start+end carrying perf.target_seconds: without vs with the target processor (no alert fires), ${
        own ? 'recording as startTelemetry sets it up' : "recording into SDK instruments (a host's own SDK)"
      }`,
      [
        { name: 'BatchSpanProcessor only', run: () => plain.startSpan('validation', { attributes }).end() },
        {
          name: 'TargetSpanProcessor + BatchSpanProcessor',
          run: () => evaluated.startSpan('validation', { attributes }).end(),
        },
      ],
      { yieldEachBatch: true },
    );
    await without.shutdown();
    await target.tracing.shutdown();
    await target.meterProvider.shutdown();
  }
}

/**
 * A rules document of `count` rules, none of which matches the benchmarked span (`validation`,
 * INTERNAL, no attributes, service `bench`): the shapes of docs/rules.md in turn (a service and a
 * route, a span name, an RPC method, a database call by kind), 3 in 8 of them for the benchmarked
 * service itself.
 */
function nonMatchingRules(count: number): string {
  const shapes = [
    (i: number) =>
      `{ service.name: ${i % 8 === 0 ? 'bench' : `svc-${i % 10}`}, http.route: /r/${i}, http.request.method: GET }`,
    (i: number) => `{ span.name: job-${i} }`,
    (i: number) => `{ rpc.service: quotes.v1.Quotes, rpc.method: Get${i} }`,
    (i: number) => `{ service.name: bench, db.operation.name: OP${i}, span.kind: client }`,
  ];
  let text = 'rules:\n';
  for (let i = 0; i < count; i++) {
    text += `  - match: ${shapes[i % shapes.length]?.(i)}\n    target_seconds: 1\n`;
  }
  return text;
}

/**
 * The target processor alone (no export: its cost is what is compared) on spans without a target,
 * each of which the rules are asked about.
 */
export async function benchRules(): Promise<void> {
  const meterProvider = new MeterProvider({ readers: [new InProcessMetricReader()] });
  const provider = (rules?: string) => {
    const set =
      rules === undefined ? undefined : parseRules(rules, { file: 'bench-rules.yaml', targets: {} });
    return new TracerProvider({
      spanProcessors: [
        new TargetSpanProcessor({
          serviceName: 'bench',
          maxOperations: 1000,
          boundaries: durationBoundaries([2, 5, 30, 120]),
          meterProvider,
          alerts: { emit: () => undefined },
          ...(set ? { rules: () => set } : {}),
        }),
      ],
    });
  };
  const providers = [
    { name: 'target processor, no rules file', tracing: provider() },
    { name: 'rules file, 0 rules', tracing: provider('rules: []') },
    { name: 'rules file, 100 non-matching rules', tracing: provider(nonMatchingRules(100)) },
    { name: 'rules file, 1000 non-matching rules', tracing: provider(nonMatchingRules(1000)) },
  ];
  await compare(
    'span start+end without a target (no rule matches): target rules vs none',
    providers.map(({ name, tracing }) => {
      const tracer = tracing.getTracer('bench');
      return { name, run: () => tracer.startSpan('validation').end() };
    }),
  );
  for (const { tracing } of providers) await tracing.shutdown();
  await meterProvider.shutdown();
}
