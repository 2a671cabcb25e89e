/**
 * The span evaluator over neutral span views, with the real metric SDK and the minute windows
 * reading what it recorded: targets from the attribute, from a rule set, none; operation naming;
 * breach alerts carrying the view's service and trace; the per-service bounds; requests of received
 * SERVER spans; and the target processor stamping rule verdicts on in-process spans.
 */
import { Writable } from 'node:stream';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertInput } from '../../src/alerts/index.ts';
import { SpanEvaluator } from '../../src/telemetry/evaluate.ts';
import { TargetSpanProcessor } from '../../src/telemetry/processor.ts';
import { ServiceRegistry } from '../../src/telemetry/services.ts';
import type { SpanView, TargetRuleSet } from '../../src/telemetry/span-view.ts';
import { durationBoundaries } from '../../src/telemetry/targets.ts';
import { MinuteWindows } from '../../src/telemetry/windows.ts';

const OWN = 'own-svc';
const TRACE_ID = '0af7651916cd43dd8448eb211c80319c';
const SPAN_ID = 'b7ad6b7169203331';

function view(overrides: Partial<SpanView> = {}): SpanView {
  return {
    name: 'span-name',
    service: 'checkout',
    kind: SpanKind.INTERNAL,
    attributes: {},
    durationSeconds: 0.1,
    error: false,
    traceId: TRACE_ID,
    spanId: SPAN_ID,
    traceFlags: 1,
    ...overrides,
  };
}

/** Warning lines a pino logger wrote. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), warnings: () => lines.filter((l) => l.level === 40) };
}

const providers: MeterProvider[] = [];
afterEach(async () => {
  await Promise.all(providers.splice(0).map((p) => p.shutdown()));
});

function setup(
  options: {
    maxOperations?: number;
    maxServices?: number;
    rules?: () => TargetRuleSet | undefined;
    logger?: ReturnType<typeof capturedLogger>['logger'];
  } = {},
) {
  const alerts: AlertInput[] = [];
  const windows = new MinuteWindows({ retentionMinutes: 60, maxPoints: 100_000, service: OWN });
  const provider = new MeterProvider({ readers: [windows.reader] });
  providers.push(provider);
  const services = new ServiceRegistry({
    ownService: OWN,
    maxServices: options.maxServices ?? 10,
    ...(options.logger ? { logger: options.logger } : {}),
  });
  const evaluator = new SpanEvaluator({
    services,
    alerts: { emit: (a) => alerts.push(a) },
    maxOperations: options.maxOperations ?? 100,
    boundaries: durationBoundaries([0.5, 1]),
    meterProvider: provider,
    ...(options.rules ? { rules: options.rules } : {}),
  });
  return {
    evaluator,
    services,
    alerts,
    async totals() {
      await windows.collect();
      return windows.totals(0, Number.MAX_SAFE_INTEGER);
    },
  };
}

describe('SpanEvaluator', () => {
  it('takes the target from perf.target_seconds and reports under perf.operation', async () => {
    const s = setup();
    expect(
      s.evaluator.evaluate(
        view({ attributes: { 'perf.target_seconds': 0.5, 'perf.operation': 'pay' }, durationSeconds: 0.8 }),
      ),
    ).toEqual({ operation: 'pay', targetSeconds: 0.5, exceeded: true });
    expect(s.evaluator.evaluate(view({ attributes: { 'perf.target_seconds': 0.5 } }))).toEqual({
      operation: 'span-name',
      targetSeconds: 0.5,
      exceeded: false,
    });
    const checkout = (await s.totals()).services.get('checkout');
    expect(checkout?.operations.get('pay')).toMatchObject({ count: 1, breaches: 1 });
    expect(checkout?.operations.get('span-name')).toMatchObject({ count: 1, breaches: 0 });
    expect(s.evaluator.targetOf('pay', 'checkout')).toBe(0.5);
    expect(s.evaluator.targetOf('pay')).toBeUndefined();
  });

  it('takes the target and the operation from the first matching rule when the span has no target', async () => {
    const seen: SpanView[] = [];
    const rules: TargetRuleSet = {
      match(span) {
        seen.push(span);
        if (span.name.startsWith('SELECT')) return { targetSeconds: 0.05, operation: 'db_select' };
        if (span.name === 'render') return { targetSeconds: 1, operation: undefined };
        return undefined;
      },
    };
    const s = setup({ rules: () => rules });
    expect(s.evaluator.evaluate(view({ name: 'SELECT users', durationSeconds: 0.2 }))).toEqual({
      operation: 'db_select',
      targetSeconds: 0.05,
      exceeded: true,
    });
    // No rule operation: the span name; perf.operation wins over the rule's operation.
    expect(s.evaluator.evaluate(view({ name: 'render' }))?.operation).toBe('render');
    expect(
      s.evaluator.evaluate(view({ name: 'SELECT x', attributes: { 'perf.operation': 'mine' } }))?.operation,
    ).toBe('mine');
    // A span's own target wins: the rules are not even asked.
    const asked = seen.length;
    expect(
      s.evaluator.evaluate(view({ name: 'SELECT y', attributes: { 'perf.target_seconds': 2 } })),
    ).toMatchObject({ targetSeconds: 2, exceeded: false });
    expect(seen).toHaveLength(asked);
    expect(seen[0]?.service).toBe('checkout');
    const ops = (await s.totals()).services.get('checkout')?.operations;
    expect(ops?.get('db_select')).toMatchObject({ count: 1, breaches: 1 });
    expect(ops?.get('render')?.count).toBe(1);
  });

  it('records nothing for a span without a target or perf.operation, and records tracked operations without one', async () => {
    const s = setup({ rules: () => ({ match: () => undefined }) });
    expect(s.evaluator.evaluate(view())).toBeUndefined();
    expect(s.evaluator.evaluate(view({ kind: SpanKind.SERVER }))).toBeUndefined();
    expect((await s.totals()).services.size).toBe(0);
    expect(s.evaluator.evaluate(view({ attributes: { 'perf.operation': 'tracked' } }))).toEqual({
      operation: 'tracked',
      targetSeconds: undefined,
      exceeded: false,
    });
    expect((await s.totals()).services.get('checkout')?.operations.get('tracked')).toMatchObject({
      count: 1,
      breaches: 0,
    });
  });

  it('holds a span to no rule when the rule set throws, without throwing itself', () => {
    const s = setup({
      rules: () => ({
        match: () => {
          throw new Error('broken rules');
        },
      }),
    });
    expect(s.evaluator.evaluate(view())).toBeUndefined();
    expect(
      s.evaluator.evaluate(view({ attributes: { 'perf.operation': 'x' } }))?.targetSeconds,
    ).toBeUndefined();
  });

  it('raises target_exceeded with the span view service, trace and correlation', () => {
    const s = setup();
    s.evaluator.evaluate(
      view({
        service: 'billing',
        attributes: {
          'perf.target_seconds': 0.1,
          'perf.operation': 'invoice',
          'correlation.id': 'corr-1',
          'user.id': 42,
        },
        durationSeconds: 0.5,
        error: true,
        traceFlags: 0,
      }),
    );
    expect(s.alerts).toHaveLength(1);
    expect(s.alerts[0]).toMatchObject({
      type: 'target_exceeded',
      service: 'billing',
      operation: 'invoice',
      value: 0.5,
      threshold: 0.1,
      unit: 's',
      trace: { trace_id: TRACE_ID, span_id: SPAN_ID, sampled: false },
      correlationId: 'corr-1',
      userId: '42',
    });
    expect(s.alerts[0]?.summary).toContain('and failed');
    // Invalid ids: the alert has no trace link rather than a wrong one.
    s.evaluator.evaluate(
      view({ attributes: { 'perf.target_seconds': 0.1 }, durationSeconds: 1, traceId: '0'.repeat(32) }),
    );
    expect(s.alerts[1]?.trace).toBeUndefined();
  });

  it('caps operation names per service: past maxOperations each service records _other', async () => {
    const s = setup({ maxOperations: 2 });
    for (const service of ['a', 'b']) {
      for (const op of ['op1', 'op2', 'op3', 'op4']) {
        s.evaluator.evaluate(
          view({ service, attributes: { 'perf.target_seconds': 1, 'perf.operation': op } }),
        );
      }
    }
    // An operation name that cannot be a label is never a series of its own.
    const long = 'x'.repeat(500);
    expect(
      s.evaluator.evaluate(view({ service: 'c', name: long, attributes: { 'perf.target_seconds': 1 } })),
    ).toMatchObject({ operation: '_other' });
    const totals = await s.totals();
    for (const service of ['a', 'b']) {
      const ops = totals.services.get(service)?.operations;
      expect([...(ops?.keys() ?? [])].sort()).toEqual(['_other', 'op1', 'op2']);
      expect(ops?.get('_other')?.count).toBe(2);
    }
    expect([...(totals.services.get('c')?.operations.keys() ?? [])]).toEqual(['_other']);
  });

  it('raises alerts under the recorded names: past the caps, _other, so they fold', () => {
    const s = setup({ maxOperations: 2, maxServices: 3 });
    const breach = (service: string, operation: string) =>
      s.evaluator.evaluate(
        view({
          service,
          attributes: { 'perf.target_seconds': 0.001, 'perf.operation': operation },
          durationSeconds: 1,
        }),
      );
    for (let i = 0; i < 50; i++) expect(breach('checkout', `op${i}`)?.exceeded).toBe(true);
    expect(s.alerts).toHaveLength(50);
    expect(new Set(s.alerts.map((a) => a.operation))).toEqual(new Set(['op0', 'op1', '_other']));
    expect(s.alerts.filter((a) => a.operation === '_other')).toHaveLength(48);
    expect(s.alerts[49]?.summary).toMatch(/^Operation "_other" took/);
    // Services: the own one, checkout and svc0 take the three names; every later one is _other.
    s.alerts.length = 0;
    for (let i = 0; i < 50; i++) breach(`svc${i}`, 'op0');
    expect(s.alerts).toHaveLength(50);
    expect(new Set(s.alerts.map((a) => a.service))).toEqual(new Set(['svc0', '_other']));
    expect(new Set(s.alerts.map((a) => a.operation))).toEqual(new Set(['op0']));
    // The verdict written onto the forwarded span keeps the span's own name: one record, no series.
    expect(breach('checkout', 'op49')?.operation).toBe('op49');
  });

  it('caps services: past maxServices spans are recorded as _other, with exactly one warning', async () => {
    const log = capturedLogger();
    const s = setup({ maxServices: 3, logger: log.logger });
    for (const service of [OWN, 'svc1', 'svc2', 'svc3', 'svc4', 'svc3']) {
      s.evaluator.evaluate(view({ service, attributes: { 'perf.operation': 'op' } }));
    }
    const totals = await s.totals();
    expect(totals.operations.get('op')?.count).toBe(1);
    expect([...totals.services.keys()].sort()).toEqual(['_other', 'svc1', 'svc2']);
    expect(totals.services.get('_other')?.operations.get('op')?.count).toBe(3);
    expect(s.services.services()).toEqual([OWN, 'svc1', 'svc2', '_other']);
    expect(log.warnings()).toHaveLength(1);
    expect(log.warnings()[0]).toMatchObject({ maxServices: 3, service: 'svc3' });
    expect(String(log.warnings()[0]?.msg)).toMatch(/PERF_MAX_SERVICES/);
  });

  it('records the requests of received SERVER spans with http.route, target or not', async () => {
    const s = setup();
    const request = (status: number, attributes: Record<string, string | number> = {}) =>
      view({
        kind: SpanKind.SERVER,
        name: 'GET /users/:id',
        attributes: {
          'http.route': '/users/:id',
          'http.request.method': 'GET',
          'http.response.status_code': status,
          ...attributes,
        },
      });
    expect(s.evaluator.evaluate(request(200))).toBeUndefined();
    s.evaluator.evaluate(request(503));
    s.evaluator.evaluate(request(404, { 'perf.target_seconds': 1 }));
    // Older semantic conventions; an unknown method is _OTHER; no route: not a request.
    s.evaluator.evaluate(
      view({
        kind: SpanKind.SERVER,
        attributes: { 'http.route': '/old', 'http.method': 'POST', 'http.status_code': 500 },
      }),
    );
    s.evaluator.evaluate(
      view({ kind: SpanKind.SERVER, attributes: { 'http.route': '/x', 'http.request.method': 'BREW' } }),
    );
    s.evaluator.evaluate(view({ kind: SpanKind.SERVER, attributes: { 'http.request.method': 'GET' } }));
    // CLIENT spans are not requests served.
    s.evaluator.evaluate(view({ kind: SpanKind.CLIENT, attributes: { 'http.route': '/users/:id' } }));
    const http = (await s.totals()).services.get('checkout')?.http;
    expect(Object.fromEntries([...(http ?? [])].map(([k, a]) => [k, [a.count, a.errors]]))).toEqual({
      'GET /users/:id': [3, 1],
      'POST /old': [1, 1],
      '_OTHER /x': [1, 0],
    });
  });
});

describe('TargetSpanProcessor over the evaluator', () => {
  it('stamps the rule verdict on in-process spans and records them under the own service', async () => {
    const alerts: AlertInput[] = [];
    const windows = new MinuteWindows({ retentionMinutes: 60, maxPoints: 100_000, service: OWN });
    const meters = new MeterProvider({ readers: [windows.reader] });
    providers.push(meters);
    const processor = new TargetSpanProcessor({
      serviceName: OWN,
      maxOperations: 10,
      boundaries: [0.001, 1],
      meterProvider: meters,
      alerts: { emit: (a) => alerts.push(a) },
      rules: () => ({
        match: (span) =>
          span.name === 'slow-rule' ? { targetSeconds: 0.000_001, operation: 'ruled' } : undefined,
      }),
    });
    const exporter = new InMemorySpanExporter();
    const tracing = new TracerProvider({
      spanProcessors: [processor, new SimpleSpanProcessor({ exporter })],
    });
    const tracer = tracing.getTracer('t');
    // Explicit times: 2 ms, over the rule's one-microsecond target, whatever the clock does.
    const start: [number, number] = [1_700_000_000, 0];
    const span = tracer.startSpan('slow-rule', { startTime: start });
    span.setStatus({ code: SpanStatusCode.ERROR });
    span.end([1_700_000_000, 2_000_000]);
    tracer.startSpan('no-rule').end();
    await tracing.forceFlush();
    const [ruled, plain] = exporter.getFinishedSpans();
    expect(ruled?.attributes).toMatchObject({
      'perf.target_seconds': 0.000_001,
      'perf.operation': 'ruled',
      'perf.target_exceeded': true,
    });
    expect(plain?.attributes).toEqual({});
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ service: OWN, operation: 'ruled', value: 0.002 });
    expect(alerts[0]?.trace?.span_id).toBe(ruled?.spanContext().spanId);
    expect(processor.targetOf('ruled')).toBe(0.000_001);
    expect(processor.evaluator.targetOf('ruled', OWN)).toBe(0.000_001);
    await windows.collect();
    const totals = windows.totals(0, Number.MAX_SAFE_INTEGER);
    expect(totals.operations.get('ruled')).toMatchObject({ count: 1, errors: 1, breaches: 1 });
    expect(totals.services.size).toBe(0);
    await tracing.shutdown();
  });

  it('refuses a registry of another service', () => {
    const services = new ServiceRegistry({ ownService: 'other', maxServices: 2 });
    expect(
      () => new TargetSpanProcessor({ serviceName: OWN, maxOperations: 1, boundaries: [1], services }),
    ).toThrow(/^options\.services: is the registry of "other"; expected the registry of serviceName/);
  });
});
