/**
 * The standard OpenTelemetry variables choose what is exported, in a host app started with
 * `node --import perf-sidecar/register` and a real OTLP/HTTP receiver as the destination: each
 * variable the README lists, with the negative cases (nothing configured, `none`, a metrics-only
 * endpoint). The receiver records every request's path and headers.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AppRun, runFixture } from '../helpers/child.ts';
import { OtlpReceiver } from '../helpers/otlp-receiver.ts';

const SECRET = 'otlp-h3ader-s3cret';

describe('OTEL_* variables in a host app', () => {
  let receiver: OtlpReceiver;

  beforeEach(async () => {
    receiver = await OtlpReceiver.start();
  });
  afterEach(async () => {
    await receiver.close();
  });

  function run(env: Record<string, string>): Promise<AppRun<{ metrics: string }>> {
    return runFixture<{ metrics: string }>('otel-env-app.mjs', {
      LOG_LEVEL: 'info',
      FIXTURE_RECEIVER: receiver.url,
      ...env,
    });
  }

  const paths = () => receiver.requests.map((r) => r.path);

  it('exports nothing when no OTLP variable is set', async () => {
    const app = await run({});
    expect(app.status, app.stderr).toBe(0);
    expect(app.out?.metrics).toContain('perf_operation_duration_seconds_count');
    expect(receiver.requests).toEqual([]);
    expect(app.stdout).toContain('"traces":"not exported"');
  }, 60_000);

  it('exports traces with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT alone, to that URL as is', async () => {
    const app = await run({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/custom/traces`,
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/json',
    });
    expect(app.status, app.stderr).toBe(0);
    expect(new Set(paths())).toEqual(new Set(['/custom/traces']));
    expect(receiver.spans.map((s) => s.name)).toContain('identity_probe');
    expect(receiver.requests[0]?.headers['content-type']).toBe('application/json');
  }, 60_000);

  it('exports nothing with OTEL_TRACES_EXPORTER=none, although an endpoint is set', async () => {
    const app = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_TRACES_EXPORTER: 'none' });
    expect(app.status, app.stderr).toBe(0);
    expect(receiver.requests).toEqual([]);
  }, 60_000);

  it('sends OTEL_EXPORTER_OTLP_HEADERS to <endpoint>/v1/traces, in OTEL_EXPORTER_OTLP_PROTOCOL, and never logs them', async () => {
    const app = await run({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_EXPORTER_OTLP_HEADERS: `x-api-key=${SECRET},x-team=core`,
    });
    expect(app.status, app.stderr).toBe(0);
    // OTEL_METRICS_EXPORTER unset: no metric push, /metrics only.
    expect(new Set(paths())).toEqual(new Set(['/v1/traces']));
    expect(receiver.requests[0]?.headers).toMatchObject({
      'x-api-key': SECRET,
      'x-team': 'core',
      'content-type': 'application/json',
    });
    expect(receiver.spans.find((s) => s.name === 'identity_probe')).toBeDefined();
    expect(app.stdout + app.stderr).not.toContain(SECRET);
  }, 60_000);

  it('sends protobuf by default (OTEL_EXPORTER_OTLP_PROTOCOL unset)', async () => {
    const app = await run({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url });
    expect(app.status, app.stderr).toBe(0);
    expect(paths()).toContain('/v1/traces');
    expect(new Set(receiver.requests.map((r) => r.headers['content-type']))).toEqual(
      new Set(['application/x-protobuf']),
    );
  }, 60_000);

  it('pushes metrics with OTEL_METRICS_EXPORTER=otlp to OTEL_EXPORTER_OTLP_METRICS_ENDPOINT every OTEL_METRIC_EXPORT_INTERVAL, without per-user series, and no traces', async () => {
    const app = await run({
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/m`,
      OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_SERVICE_NAME: 'pushing-app',
      // Two pushes before shutdown can only come from the interval (the default is 60 s).
      FIXTURE_WAIT_METRIC_PUSHES: '2',
    });
    expect(app.status, app.stderr).toBe(0);
    expect(new Set(paths())).toEqual(new Set(['/m']));
    const names = new Set(receiver.metrics.map((m) => m.name));
    expect(names).toContain('perf.operation.duration');
    expect(names).toContain('perf.alerts.emitted');
    expect(names).not.toContain('perf.user.operation.duration');
    expect(receiver.metrics[0]?.resource['service.name']).toBe('pushing-app');
    // Prometheus stays on next to the push.
    expect(app.out?.metrics).toContain('perf_operation_duration_seconds_count');
  }, 60_000);

  it('pushes nothing with OTEL_METRICS_EXPORTER=prometheus (the /metrics endpoint only)', async () => {
    const app = await run({
      OTEL_METRICS_EXPORTER: 'prometheus',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: `${receiver.url}/m`,
    });
    expect(app.status, app.stderr).toBe(0);
    expect(receiver.requests).toEqual([]);
  }, 60_000);

  it('bounds the span queue by OTEL_BSP_MAX_QUEUE_SIZE (spans past it are dropped, not buffered)', async () => {
    const env = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      FIXTURE_SPANS: '300',
    };
    const bursts = () => receiver.spans.filter((s) => s.name === 'burst').length;
    const all = await run(env);
    expect(all.status, all.stderr).toBe(0);
    expect(bursts()).toBe(300);
    receiver.spans.length = 0;
    const bounded = await run({ ...env, OTEL_BSP_MAX_QUEUE_SIZE: '5' });
    expect(bounded.status, bounded.stderr).toBe(0);
    expect(bursts()).toBeGreaterThan(0);
    expect(bursts()).toBeLessThan(300);
  }, 60_000);

  it('refuses a bad value with one message naming the variable', async () => {
    const app = await run({
      OTEL_TRACES_EXPORTER: 'jaeger',
      OTEL_EXPORTER_OTLP_HEADERS: `bad key=${SECRET}`,
    });
    expect(app.status).toBe(1);
    expect(app.stderr).toContain('OTEL_TRACES_EXPORTER: "jaeger" names "jaeger", not an accepted value');
    expect(app.stderr).toContain('OTEL_EXPORTER_OTLP_HEADERS: the value is not a list');
    expect(app.stderr).not.toContain(SECRET);
    expect(receiver.requests).toEqual([]);
  }, 60_000);
});
