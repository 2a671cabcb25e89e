/**
 * The performance report per service: spans received from another service (evaluated by the
 * telemetry's own evaluator, as the OTLP receiver does) and its runtime figures, reported with
 * `service`, and the list of services; the same from memory, from unsaved minutes and from the
 * Redis rollups.
 */
import { SpanKind } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { getPerformanceReport, type PerformanceReport, trackOperation } from '../../src/telemetry/index.ts';
import type { SpanView } from '../../src/telemetry/span-view.ts';
import { startConnectedTelemetry, startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

const MIB = 1024 * 1024;
/** One sample time for every run, so that runs can be compared. */
const SAMPLE_AT = Date.now();

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

let spanCount = 0;
function view(service: string, overrides: Partial<SpanView>): SpanView {
  spanCount++;
  return {
    name: 'span',
    service,
    kind: SpanKind.INTERNAL,
    attributes: {},
    durationSeconds: 0.1,
    error: false,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: spanCount.toString(16).padStart(16, '0'),
    traceFlags: 1,
    ...overrides,
  };
}

/** What a checkout service exports: three payments (one over target, one failed), two requests, runtime. */
function receiveCheckout(telemetry: TestTelemetry['telemetry']): void {
  const { evaluator, services } = telemetry;
  const pay = { 'perf.operation': 'pay', 'perf.target_seconds': 0.5 };
  evaluator.evaluate(view('checkout', { attributes: pay, durationSeconds: 0.2 }));
  evaluator.evaluate(view('checkout', { attributes: pay, durationSeconds: 3 }));
  evaluator.evaluate(view('checkout', { attributes: pay, durationSeconds: 0.3, error: true }));
  evaluator.evaluate(view('checkout', { attributes: { 'perf.operation': 'cart' }, durationSeconds: 0.05 }));
  const request = (status: number) =>
    view('checkout', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.route': '/pay',
        'http.request.method': 'POST',
        'http.response.status_code': status,
      },
    });
  evaluator.evaluate(request(200));
  evaluator.evaluate(request(502));
  evaluator.evaluate(view('billing', { attributes: { 'perf.operation': 'invoice' }, durationSeconds: 1 }));
  services.record('checkout', {
    at: SAMPLE_AT,
    rssBytes: 300 * MIB,
    heapUsedBytes: 120 * MIB,
    cpuCores: 0.25,
  });
}

/**
 * The parts of a report that must not depend on where the figures were read from (the own
 * service's system figures are the process's, sampled now).
 */
function figures(report: PerformanceReport) {
  return {
    operations: report.operations,
    services: report.services,
    http: report.http,
    ...(report.service === 'perf-sidecar' ? {} : { system: report.system }),
  };
}

describe('getPerformanceReport per service (memory)', () => {
  it('reports a received service with service=, and lists every service by default', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    trackOperation('own_op', { targetSeconds: 1, measureResources: false }, () => 1);
    receiveCheckout(t.telemetry);

    const checkout = await getPerformanceReport({ service: 'checkout' });
    expect(checkout.service).toBe('checkout');
    expect(checkout.filter).toEqual({ operation: null, user_id: null, service: 'checkout' });
    expect(Object.keys(checkout.operations)).toEqual(['cart', 'pay']);
    expect(checkout.operations.pay).toMatchObject({ count: 3, errors: 1, breaches: 1, target_s: 0.5 });
    // 2 satisfied, 1 tolerating (3 s is past 4 x 0.5 s: frustrated, counts 0).
    expect(checkout.operations.pay?.apdex).toBeCloseTo(2 / 3, 4);
    expect(checkout.operations.cart).toMatchObject({ count: 1, target_s: null, apdex: null });
    expect(checkout.http).toEqual({ 'POST /pay': { count: 2, errors: 1, p95_s: expect.any(Number) } });
    expect(checkout.system).toMatchObject({
      rss_mb: 300,
      heap_mb: 120,
      cpu_percent: 25,
      event_loop_delay_p99_ms: null,
      disk: [],
    });
    expect(checkout.system.sampled_at).toEqual(expect.any(String));

    const own = await getPerformanceReport();
    expect(own.service).toBe('perf-sidecar');
    expect(Object.keys(own.operations)).toEqual(['own_op']);
    expect(own.system.rss_mb).toEqual(expect.any(Number));
    expect(own.services).toEqual({
      billing: { own: false, operations: 1, runs: 1, errors: 0, breaches: 0, runtime: false },
      checkout: { own: false, operations: 2, runs: 4, errors: 1, breaches: 1, runtime: true },
      'perf-sidecar': { own: true, operations: 1, runs: 1, errors: 0, breaches: 0, runtime: true },
    });
    // The own service by name is the default report.
    expect(Object.keys((await getPerformanceReport({ service: 'perf-sidecar' })).operations)).toEqual([
      'own_op',
    ]);
    expect(own.alerts.target_exceeded).toBe(1);
  });

  it('reports an unknown service as empty, with no system figures', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const report = await getPerformanceReport({ service: 'nobody' });
    expect(report.operations).toEqual({});
    expect(report.http).toEqual({});
    expect(report.system).toMatchObject({ rss_mb: null, heap_mb: null, cpu_percent: null, sampled_at: null });
    expect(Object.keys(report.services)).toEqual(['perf-sidecar']);
  });

  it.each([[''], ['a\nb'], ['x'.repeat(257)], [42]])(
    'rejects service %j with an error naming service',
    async (service) => {
      t = await startTestTelemetry({ REDIS_URL: '' });
      const error = await getPerformanceReport({ service } as never).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/^service: .*expected 1 to 256 printable characters/);
      expect((error as Error).message.length).toBeLessThan(400);
    },
  );
});

describe('getPerformanceReport per service with Redis', () => {
  it('gives the same figures from memory, from unsaved minutes and from the rollups', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    receiveCheckout(t.telemetry);
    const memory = [await getPerformanceReport({ service: 'checkout' }), await getPerformanceReport()];
    expect(memory[0]?.window.source).toBe('memory');
    await t.cleanup();

    t = await startConnectedTelemetry();
    receiveCheckout(t.telemetry);
    const unsaved = [await getPerformanceReport({ service: 'checkout' }), await getPerformanceReport()];
    expect(unsaved[0]?.window.source).toBe('redis');
    await t.telemetry.windows.flush();
    const keys = await t.redis.keys(`${t.prefix}svc:8:checkout:metrics:*`);
    expect(keys.sort()).toEqual([
      expect.stringMatching(/svc:8:checkout:metrics:cart:\d{4}-\d\d-\d\d$/),
      expect.stringMatching(/svc:8:checkout:metrics:pay:\d{4}-\d\d-\d\d$/),
    ]);
    expect(t.telemetry.rollupExporter?.pending(0)).toEqual([]);
    const stored = [await getPerformanceReport({ service: 'checkout' }), await getPerformanceReport()];
    for (const [i, report] of stored.entries()) {
      expect(report.window.source).toBe('redis');
      expect(report.warnings).toEqual([]);
      expect(figures(report)).toEqual(figures(memory[i] as PerformanceReport));
      expect(figures(report)).toEqual(figures(unsaved[i] as PerformanceReport));
    }
    expect(stored[0]?.operations.pay).toMatchObject({ count: 3, breaches: 1, target_s: 0.5 });
  });
});
