// Preload of the `idle` benchmark's baseline (bench/idle.bench.ts starts it as
// `node --import ./bench/idle-baseline-register.mjs ./bench/idle-baseline.mjs`; never run by hand).
//
// What a user writes by hand to trace and measure a Hono + pg + ioredis app with the OpenTelemetry
// packages perf-sidecar itself uses: import-in-the-middle's ESM hook on Node's loader thread, as
// its documentation shows it (so that the app's `import`s of pg, ioredis and http are
// instrumented; BENCH_IDLE_IN_THREAD=1 runs it in the main thread instead), a resource with the SDK's detectors, a tracer provider
// (spans recorded, nothing exported: perf-sidecar exports no traces by default either), a meter
// provider whose Prometheus exporter is served by the app's own `/metrics` route, the
// async-local-storage context manager and the http, pg, ioredis and runtime-node instrumentations.
// Plain JavaScript on purpose: a .ts file would make the baseline pay for Node's type stripping.
import { register } from 'node:module';
import { createAddHookMessageChannel } from 'import-in-the-middle';

const { registerOptions, addHookMessagePort, waitForAllMessagesAcknowledged } = createAddHookMessageChannel();
if (process.env.BENCH_IDLE_IN_THREAD === '1') {
  // As perf-sidecar's own server runs it: the same hook in the main thread (module.registerHooks),
  // fed the same module names over the same port, so the two differ in what they load, not in how.
  const { register: registerInThread } = await import('import-in-the-middle/register-hooks.mjs');
  registerInThread({ include: [], addHookMessagePort });
} else {
  register('import-in-the-middle/hook.mjs', import.meta.url, registerOptions);
}

const { context, metrics, propagation, trace } = await import('@opentelemetry/api');
const { AsyncLocalStorageContextManager } = await import('@opentelemetry/context-async-hooks');
const { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } = await import(
  '@opentelemetry/core'
);
const { PrometheusExporter, PrometheusSerializer } = await import('@opentelemetry/exporter-prometheus');
const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
const { HttpInstrumentation } = await import('@opentelemetry/instrumentation-http');
const { IORedisInstrumentation } = await import('@opentelemetry/instrumentation-ioredis');
const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
const { RuntimeNodeInstrumentation } = await import('@opentelemetry/instrumentation-runtime-node');
const {
  defaultResource,
  detectResources,
  envDetector,
  hostDetector,
  osDetector,
  processDetector,
  resourceFromAttributes,
} = await import('@opentelemetry/resources');
const { MeterProvider } = await import('@opentelemetry/sdk-metrics');
const { TracerProvider } = await import('@opentelemetry/sdk-trace');

const resource = defaultResource()
  .merge(detectResources({ detectors: [envDetector, hostDetector, osDetector, processDetector] }))
  .merge(resourceFromAttributes({ 'service.name': 'idle-baseline' }));

/** Read by the app's `/metrics` route (no server of the exporter's own). */
export const prometheus = new PrometheusExporter({ preventServerStart: true });
/** Writes one collection of {@link prometheus} as Prometheus text. */
export const serializer = new PrometheusSerializer();
const meterProvider = new MeterProvider({ resource, readers: [prometheus] });
metrics.setGlobalMeterProvider(meterProvider);

const tracerProvider = new TracerProvider({ resource });
context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
propagation.setGlobalPropagator(
  new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }),
);
trace.setGlobalTracerProvider(tracerProvider);
registerInstrumentations({
  instrumentations: [
    new HttpInstrumentation(),
    new PgInstrumentation(),
    new IORedisInstrumentation(),
    new RuntimeNodeInstrumentation(),
  ],
  tracerProvider,
  meterProvider,
});
await waitForAllMessagesAcknowledged();
