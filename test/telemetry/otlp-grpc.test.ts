/**
 * OTLP over gRPC, end to end: a host app started with `node --import perf-sidecar/register` and
 * `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` sends its spans and metrics to a real gRPC receiver, through
 * the exporters loaded only because that protocol was selected.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppRun, runFixture } from '../helpers/child.ts';
import { OtlpGrpcReceiver } from '../helpers/otlp-grpc-receiver.ts';

describe('OTLP over gRPC in a host app', () => {
  let receiver: OtlpGrpcReceiver;
  let app: AppRun<{ metrics: string }>;

  beforeAll(async () => {
    receiver = await OtlpGrpcReceiver.start();
    app = await runFixture<{ metrics: string }>('otel-env-app.mjs', {
      LOG_LEVEL: 'info',
      OTEL_SERVICE_NAME: 'grpc-app',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      // The push at shutdown is enough: stopTelemetry flushes the metric reader.
      OTEL_METRICS_EXPORTER: 'otlp',
    });
  }, 60_000);

  afterAll(async () => {
    await receiver.close();
  });

  it('runs the app to completion and says where spans go', () => {
    expect(app.status, app.stderr).toBe(0);
    expect(app.stdout).toContain(`"traces":"otlp grpc ${receiver.url}/"`);
  });

  it('receives the tracked operation as a span, with the service name', () => {
    expect(receiver.rejected).toEqual([]);
    const probe = receiver.spans.find((s) => s.name === 'identity_probe');
    expect(probe?.attributes['perf.target_exceeded']).toBe(true);
    expect(probe?.resource['service.name']).toBe('grpc-app');
  });

  it('receives the metrics, without the per-user series', () => {
    const names = new Set(receiver.metrics.map((m) => m.name));
    expect(names).toContain('perf.operation.duration');
    expect(names).toContain('perf.alerts.emitted');
    expect(names).not.toContain('perf.user.operation.duration');
    expect(new Set(receiver.metrics.map((m) => m.service))).toEqual(new Set(['grpc-app']));
  });
});
