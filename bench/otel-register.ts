/**
 * Preload entry of the `http` benchmark's variant B: `node --import ./bench/otel-register.ts`.
 *
 * OpenTelemetry with instrumentation-http only, set up the way perf-sidecar's register entry does
 * it (import-in-the-middle's ESM hook first, then the NodeSDK): spans are recorded (a span
 * processor that drops them, so the tracer provider is real) and the
 * `http.server.request.duration` histogram is recorded (one pull-only metric reader), but nothing
 * is exported and no other instrumentation, resource detector or processor of perf-sidecar runs.
 */
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';

const { registerOptions, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);

const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
const { MetricReader } = await import('@opentelemetry/sdk-metrics');
const { NodeSDK } = await import('@opentelemetry/sdk-node');

/** Pull-only: the SDK records into it, nobody collects (no exporter). */
class IdleMetricReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

const sdk = new NodeSDK({
  instrumentations: [new HttpInstrumentation()],
  // A processor that drops every span: spans are recording (as in production) but not exported.
  spanProcessors: [
    {
      onStart: () => undefined,
      onEnd: () => undefined,
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    },
  ],
  metricReaders: [new IdleMetricReader()],
  logRecordProcessors: [],
});
sdk.start();
await waitForAllMessagesAcknowledged();
