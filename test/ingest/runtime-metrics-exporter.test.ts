/**
 * The runtime-metric mapping fed with real bytes: the official OTLP/HTTP protobuf metric exporter
 * sends to a small HTTP server that decodes each body with the OTLP definitions and maps it.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { ObservableResult } from '@opentelemetry/api';
import { AggregationTemporalityPreference } from '@opentelemetry/exporter-metrics-otlp-http';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { otlpTypes } from '../../src/ingest/proto.ts';
import { type RuntimeMetricCounts, RuntimeMetricMapper } from '../../src/ingest/runtime-metrics.ts';
import type { RuntimeSample } from '../../src/telemetry/runtime-sample.ts';
import { waitFor } from '../helpers/wait.ts';

interface DecodedPoint {
  asDouble?: number;
  timeUnixNano?: { toNumber(): number } | number;
}
interface DecodedRequest {
  resourceMetrics: {
    scopeMetrics: { metrics: { name: string; sum?: { dataPoints: DecodedPoint[] } }[] }[];
  }[];
}

const samples: [string, RuntimeSample][] = [];
const decoded: DecodedRequest[] = [];
const counts: RuntimeMetricCounts[] = [];
const mapper = new RuntimeMetricMapper({
  sink: { record: (service, sample) => samples.push([service, sample]) },
});
let server: Server;
let url: string;

beforeAll(async () => {
  const { metricsRequest } = otlpTypes();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      const request = metricsRequest.decode(body);
      decoded.push(request as unknown as DecodedRequest);
      counts.push(mapper.map(request));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/metrics`;
});

afterAll(async () => {
  await new Promise<void>((done) => server.close(() => done()));
});

/** A meter provider of `service` exporting only when flushed. */
function provider(service: string): MeterProvider {
  return new MeterProvider({
    resource: resourceFromAttributes({ 'service.name': service, 'service.instance.id': `${service}-1` }),
    readers: [
      new PeriodicExportingMetricReader({
        exporter: new OTLPMetricExporter({
          url,
          temporalityPreference: AggregationTemporalityPreference.CUMULATIVE,
        }),
        exportIntervalMillis: 3_600_000,
      }),
    ],
  });
}

const latest = (service: string) => samples.filter(([s]) => s === service).at(-1)?.[1];

/** Sum and time (ns) of `process.cpu.time` in a decoded request. */
function cpuTimeOf(request: DecodedRequest | undefined): { seconds: number; ns: number } {
  const points = (request?.resourceMetrics ?? [])
    .flatMap((rm) => rm.scopeMetrics.flatMap((sm) => sm.metrics))
    .filter((m) => m.name === 'process.cpu.time')
    .flatMap((m) => m.sum?.dataPoints ?? []);
  const time = points[0]?.timeUnixNano;
  return {
    seconds: points.reduce((sum, p) => sum + (p.asDouble ?? 0), 0),
    ns: typeof time === 'number' ? time : (time?.toNumber() ?? 0),
  };
}

describe('runtime metrics sent by the official exporter', () => {
  it('gives each service its sample, and the CPU rate over two exports', async () => {
    const checkout = provider('checkout');
    const billing = provider('billing');
    const cpu = { user: 4, system: 1 };
    const meter = checkout.getMeter('runtime');
    meter
      .createObservableGauge('process.memory.usage', { unit: 'By' })
      .addCallback((result: ObservableResult) => result.observe(123_456_789));
    meter
      .createObservableGauge('v8js.memory.heap.used', { unit: 'By' })
      .addCallback((result: ObservableResult) => {
        result.observe(40_000_000, { 'v8js.heap.space.name': 'old_space' });
        result.observe(2_000_000, { 'v8js.heap.space.name': 'new_space' });
      });
    meter
      .createObservableGauge('nodejs.eventloop.delay.p99', { unit: 's' })
      .addCallback((result: ObservableResult) => result.observe(0.012));
    meter
      .createObservableCounter('process.cpu.time', { unit: 's' })
      .addCallback((result: ObservableResult) => {
        result.observe(cpu.user, { 'cpu.mode': 'user' });
        result.observe(cpu.system, { 'cpu.mode': 'system' });
      });
    billing
      .getMeter('runtime')
      .createObservableGauge('jvm.memory.used', { unit: 'By' })
      .addCallback((result: ObservableResult) => {
        result.observe(64_000_000, { 'jvm.memory.type': 'heap' });
        result.observe(9_000_000, { 'jvm.memory.type': 'non_heap' });
      });
    try {
      await checkout.forceFlush();
      await billing.forceFlush();
      await waitFor(() => latest('checkout') && latest('billing'), { what: 'both services' });
      expect(latest('checkout')).toMatchObject({
        rssBytes: 123_456_789,
        heapUsedBytes: 42_000_000,
        eventLoopDelayP99Seconds: 0.012,
      });
      expect(latest('checkout')?.cpuCores).toBeUndefined();
      expect(latest('billing')).toMatchObject({ heapUsedBytes: 64_000_000 });
      expect(counts[0]).toEqual({ services: 1, used: 6, ignored: 0, notRuntime: 0 });

      const first = decoded.find((request) => cpuTimeOf(request).seconds > 0);
      cpu.user += 1.5;
      cpu.system += 0.5;
      await checkout.forceFlush();
      await waitFor(() => latest('checkout')?.cpuCores !== undefined, { what: 'the CPU rate' });
      const before = cpuTimeOf(first);
      const after = cpuTimeOf(decoded.at(-1));
      expect(after.seconds - before.seconds).toBe(2);
      expect(latest('checkout')?.cpuCores).toBeCloseTo(2 / ((after.ns - before.ns) / 1e9), 6);
      expect(latest('checkout')?.at).toBe(Math.floor(after.ns / 1e6));
    } finally {
      await checkout.shutdown();
      await billing.shutdown();
    }
  });

  it("maps instrumentation-runtime-node's own metrics", async () => {
    const node = provider('node-app');
    const instrumentation = new RuntimeNodeInstrumentation({ monitoringPrecision: 10 });
    instrumentation.setMeterProvider(node);
    try {
      const sample = await waitFor(
        async () => {
          await node.forceFlush();
          const found = latest('node-app');
          return found?.heapUsedBytes !== undefined &&
            found.eventLoopDelayP99Seconds !== undefined &&
            found.eventLoopUtilization !== undefined
            ? found
            : undefined;
        },
        { what: 'heap, event-loop delay and utilisation from the instrumentation' },
      );
      expect(sample.heapUsedBytes).toBeGreaterThan(0);
      expect(sample.eventLoopUtilization).toBeGreaterThanOrEqual(0);
      expect(sample.eventLoopUtilization).toBeLessThanOrEqual(1);
      expect(sample.eventLoopDelayP99Seconds).toBeGreaterThanOrEqual(0);
    } finally {
      instrumentation.disable();
      await node.shutdown();
    }
  });
});
