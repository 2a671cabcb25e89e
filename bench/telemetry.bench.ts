/**
 * Tracking overhead, against raw OpenTelemetry on the same SDK:
 * 1. trackOperation around a no-op vs `tracer.startActiveSpan` around the same no-op;
 * 2. span end with the target processor vs without (no alert firing).
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
import { InProcessMetricReader } from '../src/telemetry/reader.ts';
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

  await compare(
    'trackOperation vs raw startActiveSpan (same NodeSDK, BatchSpanProcessor, target processor registered)',
    [
      {
        name: 'raw tracer.startActiveSpan (sync no-op)',
        run: () =>
          raw.startActiveSpan('validation', (s) => {
            s.end();
            return 1;
          }),
      },
      {
        name: 'raw startActiveSpan, same attributes as trackOperation',
        run: () =>
          raw.startActiveSpan('validation', { attributes: sameAttributes }, (s) => {
            s.end();
            return 1;
          }),
      },
      { name: 'trackOperation (sync no-op)', run: () => trackOperation('validation', noop) },
      {
        name: 'trackOperation, measureResources: false',
        run: () => trackOperation('validation', { measureResources: false }, noop),
      },
    ],
    { yieldEachBatch: true },
  );

  await compare(
    'async: trackOperation vs raw startActiveSpan',
    [
      {
        name: 'raw tracer.startActiveSpan (async no-op)',
        run: () =>
          raw.startActiveSpan('validation', async (s) => {
            const v = await asyncNoop();
            s.end();
            return v;
          }),
      },
      { name: 'trackOperation (async no-op)', run: () => trackOperation('validation', asyncNoop) },
      {
        name: 'trackOperation async, measureResources: false',
        run: () => trackOperation('validation', { measureResources: false }, asyncNoop),
      },
    ],
    { yieldEachBatch: true },
  );
  await stopTelemetry();
}

export async function benchProcessor(): Promise<void> {
  const meterProvider = new MeterProvider({ readers: [new InProcessMetricReader()] });
  const without = new TracerProvider({ spanProcessors: [batchProcessor()] });
  const withTarget = new TracerProvider({
    spanProcessors: [
      new TargetSpanProcessor({
        serviceName: 'bench',
        maxOperations: 1000,
        boundaries: durationBoundaries([2, 5, 30, 120]),
        meterProvider,
        alerts: { emit: () => undefined },
      }),
      batchProcessor(),
    ],
  });
  const attributes = { [ATTR_PERF_OPERATION]: 'validation', [ATTR_PERF_TARGET_SECONDS]: 5 };
  const plain = without.getTracer('bench');
  const evaluated = withTarget.getTracer('bench');
  await compare(
    'span start+end carrying perf.target_seconds: without vs with the target processor (no alert fires)',
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
  await withTarget.shutdown();
  await meterProvider.shutdown();
}
