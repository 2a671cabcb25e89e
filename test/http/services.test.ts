/**
 * The sidecar's app with spans received from other services (evaluated by the telemetry's own
 * evaluator, as the OTLP receiver does): `/api/system/performance?service=`, its checks, and
 * `/metrics` carrying `service_name` on the operation series and still passing `promtool`.
 */

import { SpanKind } from '@opentelemetry/api';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/index.ts';
import type { PerformanceReport } from '../../src/telemetry/index.ts';
import { promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { spanView } from '../helpers/span-view.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

async function started() {
  t = await startTestTelemetry({ REDIS_URL: '' });
  const { evaluator, services } = t.telemetry;
  evaluator.evaluate(
    spanView('checkout', { attributes: { 'perf.operation': 'pay', 'perf.target_seconds': 0.1 } }),
  );
  evaluator.evaluate(
    spanView('checkout', {
      kind: SpanKind.SERVER,
      attributes: { 'http.route': '/pay', 'http.request.method': 'POST', 'http.response.status_code': 201 },
    }),
  );
  evaluator.evaluate(
    spanView('quote "svc"', { attributes: { 'perf.operation': 'quote', 'perf.target_seconds': 1 } }),
  );
  services.record('checkout', { at: Date.now(), rssBytes: 64 * 1024 * 1024 });
  return createApp({ telemetry: t.telemetry, middleware: false });
}

describe('/api/system/performance?service=', () => {
  it('reports the service asked for, and lists the services', async () => {
    const app = await started();
    const res = await app.request('/api/system/performance?service=checkout&hours=1');
    expect(res.status).toBe(200);
    const body = (await res.json()) as PerformanceReport;
    expect(body.service).toBe('checkout');
    expect(body.operations.pay).toMatchObject({ count: 1, breaches: 1, target_s: 0.1 });
    expect(body.http['POST /pay']).toMatchObject({ count: 1, errors: 0 });
    expect(body.system).toMatchObject({ rss_mb: 64, heap_mb: null });
    expect(Object.keys(body.services)).toEqual(['checkout', 'perf-sidecar', 'quote "svc"']);
    const own = (await (await app.request('/api/system/performance')).json()) as PerformanceReport;
    expect(own.service).toBe('perf-sidecar');
    expect(own.operations).toEqual({});
  });

  it.each([
    ['service=', /^service: is ""; expected 1 to 256 printable characters$/],
    [`service=${'x'.repeat(300)}`, /^service: .*; expected 1 to 256 printable characters$/],
    ['service=%0A', /^service: is "\\n"; expected 1 to 256 printable characters$/],
    ['service=a&service=b', /given 2 times/],
  ])('answers ?%s with 400 invalid_query naming the parameter', async (query, detail) => {
    const app = await started();
    const res = await app.request(`/api/system/performance?${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; detail: string };
    expect(body.error).toBe('invalid_query');
    expect(body.detail).toMatch(detail);
    expect(body.detail.length).toBeLessThan(400);
  });
});

describe('/metrics with received services', () => {
  it('labels the operation series with service_name and passes promtool check metrics', async () => {
    const app = await started();
    const res = await app.request('/metrics');
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(
      /perf_operation_duration_seconds_count\{[^}]*service_name="checkout"[^}]*perf_operation="pay"/,
    );
    expect(text).toMatch(/perf_target_breaches_total\{[^}]*service_name="checkout"[^}]*\} 1/);
    expect(text).toMatch(/perf_operation_target_seconds\{[^}]*service_name="quote \\"svc\\""[^}]*\} 1/);
    // The received services' requests stay in process.
    expect(text).not.toContain('perf_service_http');
    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });
});
