/**
 * What becomes of received metric data points, through a real ingest (receivers, the telemetry's
 * runtime store, the forwarder): without forwarding, the points the sidecar does not read are
 * counted by reason in the ingest's stats, in `/metrics` and in the `ingest:droppedPoints`
 * health check; with forwarding, every point goes on, those of OTLP/JSON bodies included
 * (re-encoded as protobuf), sent here by the official OTLP/HTTP JSON metric exporter.
 */
import type { ObservableResult } from '@opentelemetry/api';
import { OTLPMetricExporter as JsonMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { IngestHealth } from '../../src/http/ingest-health.ts';
import { type Ingest, startIngest } from '../../src/ingest/index.ts';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { OtlpProtoReceiver } from '../helpers/otlp-proto-receiver.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';
import { curl, JSON_BODY, PROTOBUF, quiet } from './helpers.ts';

let telemetry: TestTelemetry | undefined;
let ingest: Ingest | undefined;
let upstream: OtlpProtoReceiver | undefined;
afterEach(async () => {
  await ingest?.close();
  await telemetry?.cleanup();
  await upstream?.close();
  ingest = undefined;
  telemetry = undefined;
  upstream = undefined;
});

async function start(env: Record<string, string> = {}): Promise<Ingest> {
  telemetry = await startTestTelemetry({ REDIS_URL: '', OTLP_HTTP_PORT: '0', OTLP_GRPC_PORT: '0', ...env });
  ingest = await startIngest({ telemetry: telemetry.telemetry, host: '127.0.0.1', logger: quiet });
  return ingest;
}

const nowNs = () => `${Date.now()}000000`;
const gauge = (name: string, unit: string, values: readonly number[]) => ({
  name,
  unit,
  gauge: { dataPoints: values.map((asDouble) => ({ timeUnixNano: nowNs(), asDouble })) },
});

/**
 * One request of `service` in the protobufjs `fromObject` form, which is also its OTLP/JSON form:
 * one point the sidecar reads (resident memory), three of a metric it does not read, and two of a
 * runtime metric it cannot read (a unit it does not know).
 */
function metricsObject(service: string): object {
  return {
    resourceMetrics: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeMetrics: [
          {
            metrics: [
              gauge('process.memory.usage', 'By', [50_000_000]),
              gauge('queue.depth', '{item}', [1, 2, 3]),
              gauge('v8js.memory.heap.used', 'furlongs', [4, 5]),
            ],
          },
        ],
      },
    ],
  };
}

function metricsBody(service: string): Uint8Array {
  const { metricsRequest } = otlpTypes();
  return metricsRequest.encode(metricsRequest.fromObject(metricsObject(service))).finish();
}

describe('received metric data points', () => {
  it('counts those neither read nor forwarded by reason: in stats, /metrics and health', async () => {
    const running = await start();
    const url = `${running.httpUrl}/v1/metrics`;
    expect((await curl(url, PROTOBUF, metricsBody('svc-proto'))).status).toBe(200);
    expect((await curl(url, JSON_BODY, JSON.stringify(metricsObject('svc-json')))).status).toBe(200);

    expect(running.stats().dataPoints).toEqual({ used: 2, dropped: { not_runtime: 6, not_read: 4 } });
    expect(running.stats().receivers.dataPoints).toBe(12);
    // The point read is used all the same: each service has its resident memory.
    expect(telemetry?.telemetry.services.runtimeOf('svc-json')?.rssBytes).toBe(50_000_000);

    const text = (await telemetry?.telemetry.renderPrometheus()) ?? '';
    expect(text).toMatch(
      /^perf_ingest_data_points_dropped_total\{[^}]*perf_ingest_reason="not_runtime"[^}]*\} 6$/m,
    );
    expect(text).toMatch(
      /^perf_ingest_data_points_dropped_total\{[^}]*perf_ingest_reason="not_read"[^}]*\} 4$/m,
    );

    const [check] =
      new IngestHealth(running, 5).checks(Date.now(), new Date().toISOString())['ingest:droppedPoints'] ?? [];
    expect(check).toMatchObject({ status: 'pass', observedValue: 10, observedUnit: '{data_point}' });
    expect(check?.output).toContain('6 of metrics the sidecar does not read, 4 it could not read');
  });

  it('forwards every point when forwarding is on, those of OTLP/JSON bodies re-encoded as protobuf', async () => {
    upstream = await OtlpProtoReceiver.start();
    const running = await start({ OTLP_FORWARD_ENDPOINT: upstream.url });
    const provider = new MeterProvider({
      resource: resourceFromAttributes({ 'service.name': 'json-exporter' }),
      readers: [
        new PeriodicExportingMetricReader({
          exporter: new JsonMetricExporter({ url: `${running.httpUrl}/v1/metrics` }),
          exportIntervalMillis: 3_600_000,
        }),
      ],
    });
    provider
      .getMeter('test')
      .createObservableGauge('queue.depth', { unit: '{item}' })
      .addCallback((result: ObservableResult) => {
        result.observe(7, { queue: 'a' });
        result.observe(9, { queue: 'b' });
      });
    try {
      await provider.forceFlush();
    } finally {
      await provider.shutdown();
    }
    const forwarded = await waitFor(() => upstream?.metricBodies[0], { what: 'the forwarded metrics' });
    const { metricsRequest } = otlpTypes();
    const request = metricsRequest.toObject(metricsRequest.decode(forwarded)) as {
      resourceMetrics: {
        scopeMetrics: { metrics: { name: string; gauge: { dataPoints: unknown[] } }[] }[];
      }[];
    };
    const metric = request.resourceMetrics[0]?.scopeMetrics[0]?.metrics.find((m) => m.name === 'queue.depth');
    expect(metric?.gauge.dataPoints).toHaveLength(2);
    // Every point received is forwarded (the provider's shutdown exports the gauge once more).
    await waitFor(
      () => {
        const { receivers, forward } = running.stats();
        return receivers.dataPoints >= 2 && forward?.dataPointsForwarded === receivers.dataPoints;
      },
      { what: 'every received point forwarded' },
    );
    expect(running.stats().dataPoints.dropped).toEqual({ not_runtime: 0, not_read: 0 });
  });
});
