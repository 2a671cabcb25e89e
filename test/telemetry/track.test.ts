import { SpanStatusCode, trace } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { alertRecordSchema } from '../../src/alerts/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { monitored, type OperationHandle, trackOperation } from '../../src/telemetry/index.ts';
import { ATTR_PERF_TARGET_EXCEEDED, ATTR_PERF_TARGET_SECONDS } from '../../src/telemetry/semconv.ts';
import { MEASURE_RESOURCES_MIN_TARGET_SECONDS } from '../../src/telemetry/track.ts';
import { compileFixture } from '../helpers/compile.ts';
import { busyFor, startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

async function started(env: Record<string, string> = {}): Promise<TestTelemetry> {
  t = await startTestTelemetry(env);
  const { telemetry } = t;
  await waitFor(() => telemetry.alerts.available, { what: 'the alert store to connect' });
  return t;
}

async function spanNamed(tt: TestTelemetry, name: string) {
  const found = (await tt.finishedSpans()).filter((s) => s.name === name);
  expect(found).toHaveLength(1);
  return found[0] as NonNullable<(typeof found)[0]>;
}

async function spanNames(tt: TestTelemetry): Promise<string[]> {
  return (await tt.finishedSpans()).map((s) => s.name).sort();
}

describe('trackOperation against the real Redis', () => {
  it('an operation past its target yields exactly one schema-valid alert carrying its trace id', async () => {
    const tt = await started();
    let traceId = '';
    const result = await trackOperation(
      'layout_generation',
      { targetSeconds: 0.02, correlationId: 'req-42', userId: 7 },
      async (op) => {
        traceId = op.span.spanContext().traceId;
        await busyFor(60);
        return 'layout';
      },
    );
    expect(result).toBe('layout');
    await tt.telemetry.alerts.flush();

    const records = await tt.list(tt.performanceList);
    expect(records).toHaveLength(1);
    const alert = alertRecordSchema.parse(records[0]);
    expect(alert.type).toBe('target_exceeded');
    expect(alert.labels).toEqual({
      alertname: 'PerfTargetExceeded',
      service: 'perf-sidecar',
      operation: 'layout_generation',
    });
    expect(alert.trace?.trace_id).toBe(traceId);
    expect(alert.trace?.span_id).toBe((await spanNamed(tt, 'layout_generation')).spanContext().spanId);
    expect(alert.trace?.sampled).toBe(true);
    expect(alert.threshold).toBe(0.02);
    expect(alert.value).toBeGreaterThan(0.02);
    expect(alert.unit).toBe('s');
    expect(alert.correlation_id).toBe('req-42');
    expect(alert.user_id).toBe('7');
    expect(alert.repeats).toBe(1);
    expect(alert.annotations.summary).toMatch(
      /^Operation "layout_generation" took \d+\.\d{3} s, over its 0\.02 s target/,
    );

    const span = await spanNamed(tt, 'layout_generation');
    expect(span.attributes[ATTR_PERF_TARGET_EXCEEDED]).toBe(true);
    expect(span.attributes['correlation.id']).toBe('req-42');
    expect(span.attributes['user.id']).toBe('7');
  });

  it('an operation within its target yields no alert', async () => {
    const tt = await started();
    await trackOperation('validation', async () => 'ok');
    await tt.telemetry.alerts.flush();
    expect(await tt.list(tt.performanceList)).toEqual([]);
    expect(tt.telemetry.alerts.stats().emitted).toBe(0);
    const span = await spanNamed(tt, 'validation');
    expect(span.attributes[ATTR_PERF_TARGET_SECONDS]).toBe(5);
    expect(span.attributes[ATTR_PERF_TARGET_EXCEEDED]).toBe(false);
  });

  it('records exceptions, sets ERROR and rethrows the same error', async () => {
    const tt = await started();
    const boom = new Error('model unavailable');
    await expect(
      trackOperation('ai_operation', async () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(() =>
      trackOperation('validation', () => {
        throw boom;
      }),
    ).toThrow(boom);
    const span = await spanNamed(tt, 'ai_operation');
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.status.message).toBe('model unavailable');
    expect(span.events.map((e) => e.name)).toEqual(['exception']);
  });

  it('returns plain values synchronously and fills the handle when the operation ends', async () => {
    await started();
    let seen: OperationHandle | undefined;
    const value = trackOperation('simple_query', (op) => {
      seen = op;
      expect(op.ended).toBe(false);
      const waste: number[] = [];
      for (let i = 0; i < 2e5; i++) waste.push(i * 2);
      return waste.length;
    });
    expect(value).toBe(2e5);
    expect(seen?.ended).toBe(true);
    expect(seen?.targetSeconds).toBe(2);
    expect(seen?.durationSeconds).toBeGreaterThan(0);
    expect(seen?.cpuSeconds).toBeGreaterThan(0);
    expect(Number.isFinite(seen?.memoryDeltaMb)).toBe(true);
    expect(seen?.targetExceeded).toBe(false);
  });

  it('exports the breach histogram and counter through Prometheus', async () => {
    const tt = await started();
    await trackOperation('document_ocr', { targetSeconds: 0.01 }, () => busyFor(30));
    await trackOperation('document_ocr', async () => 'fast');
    const text = await tt.telemetry.renderPrometheus();
    expect(text).toMatch(
      /perf_operation_duration_seconds_count\{[^}]*perf_operation="document_ocr",perf_outcome="ok",perf_target_exceeded="true"[^}]*\} 1/,
    );
    expect(text).toMatch(
      /perf_operation_duration_seconds_count\{[^}]*perf_operation="document_ocr",perf_outcome="ok",perf_target_exceeded="false"[^}]*\} 1/,
    );
    expect(text).toMatch(/perf_target_breaches_total\{[^}]*perf_operation="document_ocr"[^}]*\} 1/);
    // Buckets at the default targets and four times them, so Apdex is exact at T and 4T.
    for (const edge of ['2', '8', '30', '120', '480']) {
      expect(text).toContain(`le="${edge}"`);
    }
  });
});

describe('resource measurement', () => {
  const measured = async (tt: TestTelemetry, name: string) => {
    const span = await spanNamed(tt, name);
    return (
      span.attributes['perf.cpu_seconds'] !== undefined &&
      span.attributes['perf.memory_delta_mb'] !== undefined
    );
  };

  it(`is on by default from a ${MEASURE_RESOURCES_MIN_TARGET_SECONDS * 1000} ms target, off below it and without a target`, async () => {
    const tt = await started();
    let handle: OperationHandle | undefined;
    trackOperation('at_threshold', { targetSeconds: MEASURE_RESOURCES_MIN_TARGET_SECONDS }, (op) => {
      handle = op;
    });
    trackOperation('below_threshold', { targetSeconds: MEASURE_RESOURCES_MIN_TARGET_SECONDS / 2 }, () => 1);
    trackOperation('no_target_here', () => 1);
    // A table target (validation: 5 s) counts as the operation's target.
    trackOperation('validation', () => 1);
    expect(await measured(tt, 'at_threshold')).toBe(true);
    expect(handle?.cpuSeconds).toBe((await spanNamed(tt, 'at_threshold')).attributes['perf.cpu_seconds']);
    expect(await measured(tt, 'below_threshold')).toBe(false);
    expect(await measured(tt, 'no_target_here')).toBe(false);
    expect(await measured(tt, 'validation')).toBe(true);
  });

  it('follows measureResources when it is given, whatever the target', async () => {
    const tt = await started();
    let handle: OperationHandle | undefined;
    trackOperation('forced_on', { measureResources: true }, (op) => {
      handle = op;
    });
    trackOperation('forced_off', { targetSeconds: 60, measureResources: false }, () => 1);
    expect(await measured(tt, 'forced_on')).toBe(true);
    expect(Number.isFinite(handle?.memoryDeltaMb)).toBe(true);
    expect(await measured(tt, 'forced_off')).toBe(false);
  });
});

describe('target resolution', () => {
  it('per-call wins over the table, the table entry for the name over the kind', async () => {
    const tt = await started({ PERF_TARGETS: '{"simple_query":0.5,"export_pdf":45}' });
    await trackOperation('simple_query', { targetSeconds: 9 }, () => 1);
    await trackOperation('validation', { kind: 'ai_operation' }, () => 1);
    await trackOperation('summarise', { kind: 'ai_operation' }, () => 1);
    await trackOperation('export_pdf', () => 1);
    await trackOperation('reindex', () => 1);
    await trackOperation('simple_query_override', { kind: 'simple_query' }, () => 1);
    const target = async (name: string) => (await spanNamed(tt, name)).attributes[ATTR_PERF_TARGET_SECONDS];
    expect(await target('simple_query')).toBe(9);
    expect(await target('validation')).toBe(5);
    expect(await target('summarise')).toBe(30);
    expect(await target('export_pdf')).toBe(45);
    expect(await target('reindex')).toBeUndefined();
    expect(await target('simple_query_override')).toBe(0.5);
    expect((await spanNamed(tt, 'summarise')).attributes['perf.kind']).toBe('ai_operation');
    expect((await spanNamed(tt, 'reindex')).attributes[ATTR_PERF_TARGET_EXCEEDED]).toBeUndefined();
  });

  it('names such as "constructor" do not find inherited properties', async () => {
    const tt = await started();
    await trackOperation('constructor', () => 1);
    expect((await spanNamed(tt, 'constructor')).attributes[ATTR_PERF_TARGET_SECONDS]).toBeUndefined();
  });

  it('a hand-made span with perf.target_seconds is evaluated too', async () => {
    const tt = await started();
    const tracer = trace.getTracer('hand-made');
    const span = tracer.startSpan('batch_import', { attributes: { [ATTR_PERF_TARGET_SECONDS]: 0.01 } });
    await busyFor(30);
    span.end();
    await tt.telemetry.alerts.flush();
    const [alert] = await tt.list(tt.performanceList);
    expect(alertRecordSchema.parse(alert).labels.operation).toBe('batch_import');
    expect((await spanNamed(tt, 'batch_import')).attributes[ATTR_PERF_TARGET_EXCEEDED]).toBe(true);
  });
});

describe('monitored', () => {
  it('wraps sync and async functions, keeping this and arguments', async () => {
    const tt = await started();
    const double = monitored('validation')((n: number) => n * 2);
    const fetchName = monitored('simple_query', { kind: 'simple_query' })(async function (this: {
      name: string;
    }) {
      return this.name;
    });
    expect(double(21)).toBe(42);
    expect(await fetchName.call({ name: 'ada' })).toBe('ada');
    expect(await spanNames(tt)).toEqual(['simple_query', 'validation']);
  });

  it('works as a standard method decorator, named after the method by default', async () => {
    const tt = await started();
    const { defineLayouts } = await compileFixture<typeof import('../fixtures/decorated.ts')>('decorated.ts');
    const Layouts = defineLayouts(monitored);
    const layouts = new Layouts();
    expect(layouts.scale(2)).toBe(6);
    expect(await layouts.generate()).toBe('plan');
    expect(await spanNames(tt)).toEqual(['layout_generation', 'scale']);
    expect((await spanNamed(tt, 'layout_generation')).attributes[ATTR_PERF_TARGET_SECONDS]).toBe(30);
  });
});

describe('bad input', () => {
  it.each([
    ['', undefined, /name: "" is empty; expected 1 to 128 printable characters/],
    ['x'.repeat(129), undefined, /name: "x{64}…" \(129 characters\) is 129 characters long/],
    ['line\nbreak', undefined, /contains control characters/],
    [42 as unknown as string, undefined, /name: 42 is number, not a string/],
    ['ok', { targetSeconds: 0 }, /options\.targetSeconds: is 0; expected a number of seconds greater than 0/],
    ['ok', { targetSeconds: Number.NaN }, /options\.targetSeconds: is NaN/],
    ['ok', { targetSeconds: '5' }, /options\.targetSeconds: is "5"/],
    ['ok', { kind: '' }, /options\.kind: "" is empty/],
    [
      'ok',
      { correlationId: 'a\u0000b' },
      /options\.correlationId: is "a\\u0000b"; expected a string of 1 to 128 printable/,
    ],
    ['ok', { userId: {} }, /options\.userId: is an object/],
    ['ok', 'fast', /options: is "fast"; expected an object or undefined/],
  ])(
    'trackOperation(%j, %j) throws a clear error and does not run the function',
    async (name, options, pattern) => {
      await started();
      let ran = false;
      const call = () =>
        trackOperation(name, options as never, () => {
          ran = true;
        });
      expect(call).toThrow(InvalidArgumentError);
      expect(call).toThrow(pattern);
      expect(ran).toBe(false);
    },
  );

  it('a missing function is named', async () => {
    await started();
    expect(() => trackOperation('ok', {} as never)).toThrow(/fn: is undefined; expected the function to run/);
  });
});

describe('ENABLE_PERFORMANCE_MONITORING=false', () => {
  it('runs the wrapped code and records nothing', async () => {
    const tt = await startTestTelemetry({ ENABLE_PERFORMANCE_MONITORING: 'false' });
    t = tt;
    expect(tt.telemetry.enabled).toBe(false);
    const value = await trackOperation('layout_generation', { targetSeconds: 0.001 }, async (op) => {
      await busyFor(10);
      expect(op.span.isRecording()).toBe(false);
      return 'still runs';
    });
    expect(value).toBe('still runs');
    expect(monitored('validation')((x: number) => x + 1)(1)).toBe(2);
    expect(await tt.finishedSpans()).toEqual([]);
    expect(tt.telemetry.alerts.stats().emitted).toBe(0);
  });
});
