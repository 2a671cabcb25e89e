/**
 * The OpenTelemetry SDK's own variables, as perf-sidecar assembles the SDK from them: the sampler,
 * the propagators, the span limits and OTEL_SDK_DISABLED reach the real SDK parts.
 */
import { context, propagation, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { getTelemetry, startTelemetry, trackOperation } from '../../src/telemetry/index.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

/** The headers the global propagator writes for a span of the running tracer. */
function injectedHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const span = trace.getTracer('test').startSpan('outgoing');
  propagation.inject(trace.setSpan(context.active(), span), headers);
  span.end();
  return headers;
}

describe('OpenTelemetry SDK variables', () => {
  it('record every span and propagate W3C trace context and baggage by default', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    trackOperation('sampled', {}, () => undefined);
    expect((await t.finishedSpans()).map((s) => s.name)).toEqual(['sampled']);
    expect(Object.keys(injectedHeaders())).toEqual(['traceparent']);
  });

  it('OTEL_TRACES_SAMPLER=always_off records no span', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', OTEL_TRACES_SAMPLER: 'always_off' });
    trackOperation('dropped', {}, () => undefined);
    expect(await t.finishedSpans()).toEqual([]);
  });

  it('OTEL_TRACES_SAMPLER=traceidratio with OTEL_TRACES_SAMPLER_ARG=0 records no root span', async () => {
    t = await startTestTelemetry({
      REDIS_URL: '',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0',
    });
    for (let i = 0; i < 20; i++) trackOperation('ratio', {}, () => undefined);
    expect(await t.finishedSpans()).toEqual([]);
  });

  it('OTEL_PROPAGATORS=b3multi injects B3 multi-header context', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', OTEL_PROPAGATORS: 'b3multi' });
    const headers = injectedHeaders();
    expect(headers).toHaveProperty('x-b3-traceid');
    expect(headers).not.toHaveProperty('traceparent');
  });

  it('OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT caps the attributes of a span', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT: '3' });
    trackOperation('limited', { attributes: { a: 1, b: 2, c: 3, d: 4, e: 5 } }, () => undefined);
    const [span] = await t.finishedSpans();
    expect(Object.keys(span?.attributes ?? {})).toHaveLength(3);
  });

  it('OTEL_SDK_DISABLED=true registers no tracer provider', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', OTEL_SDK_DISABLED: 'true' });
    const span = trace.getTracer('test').startSpan('nothing');
    expect(span.isRecording()).toBe(false);
    span.end();
  });
});

describe('startTelemetry refusing its options', () => {
  it('checks options.targets before anything starts, naming the entry', async () => {
    const config = loadConfig({ LOG_LEVEL: 'warn' });
    expect(() => startTelemetry({ config, targets: { checkout: 0 } })).toThrow(
      /^options\.targets\.checkout: is 0; expected a number of seconds greater than 0, at most 86400$/,
    );
    expect(() => startTelemetry({ config, targets: { 'bad\nname': 1 } })).toThrow(
      /^options\.targets: has a name that/,
    );
    expect(() => getTelemetry()).toThrow(/not started/);
  });

  it('leaves nothing registered when a later step fails, so the next start works', async () => {
    const config = loadConfig({ LOG_LEVEL: 'warn', REDIS_URL: '' });
    const broken = { instrumentationName: 'broken' } as never;
    expect(() => startTelemetry({ config, instrumentations: [broken] })).toThrow();
    expect(() => getTelemetry()).toThrow(/not started/);
    expect(trace.getTracer('test').startSpan('after failure').isRecording()).toBe(false);
    t = await startTestTelemetry({ REDIS_URL: '' });
    trackOperation('after', {}, () => undefined);
    expect((await t.finishedSpans()).map((s) => s.name)).toEqual(['after']);
    expect(await t.telemetry.renderPrometheus()).toContain('perf_operation_duration_seconds_count');
  });

  it('OTEL_SDK_DISABLED=true measures nothing: no metrics, monitoring off', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', OTEL_SDK_DISABLED: 'true' });
    expect(t.telemetry.enabled).toBe(false);
    trackOperation('unmeasured', {}, () => undefined);
    expect(await t.telemetry.renderPrometheus()).toBe('');
  });
});
