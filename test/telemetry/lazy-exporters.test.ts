/**
 * OTLP exporters loaded only when selected: the stand-in exporters that wait for the package, and a
 * child process proving that telemetry without OTLP settings never loads the gRPC exporter (and
 * that selecting it does).
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { AggregationTemporality, InMemoryMetricExporter, InstrumentType } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace';
import { afterEach, describe, expect, it } from 'vitest';
import { getLogger, setLogger } from '../../src/shared/logger.ts';
import {
  LazyMetricExporter,
  LazySpanExporter,
  MAX_WAITING_EXPORTS,
  temporalityFor,
} from '../../src/telemetry/lazy-exporters.ts';
import { runFixture } from '../helpers/child.ts';
import { captureLogMessages } from '../helpers/logs.ts';

/** A loader the test resolves or rejects when it wants. */
function gatedLoader<E>() {
  let resolve: (exporter: E) => void = () => undefined;
  let reject: (error: Error) => void = () => undefined;
  let calls = 0;
  const promise = new Promise<E>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return {
    load: () => {
      calls++;
      return promise;
    },
    resolve,
    reject,
    calls: () => calls,
  };
}

function exportOnce(exporter: SpanExporter, spans: ReadableSpan[] = []): Promise<ExportResult> {
  return new Promise((done) => exporter.export(spans, done));
}

const previousLogger = getLogger();
afterEach(() => setLogger(previousLogger));

describe('LazySpanExporter', () => {
  it('starts loading at once and delivers the exports asked for before the load, after it', async () => {
    const loader = gatedLoader<SpanExporter>();
    const lazy = new LazySpanExporter('test trace', loader.load);
    expect(loader.calls()).toBe(1);
    const inner = new InMemorySpanExporter();
    const early = exportOnce(lazy);
    loader.resolve(inner);
    expect((await early).code).toBe(ExportResultCode.SUCCESS);
    expect((await exportOnce(lazy)).code).toBe(ExportResultCode.SUCCESS);
    await lazy.forceFlush();
    await lazy.shutdown();
    // The in-memory exporter refuses exports once shut down: the shutdown reached it.
    expect((await exportOnce(lazy)).code).toBe(ExportResultCode.FAILED);
    expect(loader.calls()).toBe(1);
  });

  it('fails the exports with an error naming the exporter when the load fails, and logs it once', async () => {
    const lines = captureLogMessages();
    const loader = gatedLoader<SpanExporter>();
    const lazy = new LazySpanExporter('test trace', loader.load);
    const early = exportOnce(lazy);
    loader.reject(new Error('Cannot find package'));
    const results = [await early, await exportOnce(lazy), await exportOnce(lazy)];
    for (const result of results) {
      expect(result.code).toBe(ExportResultCode.FAILED);
      expect(result.error?.message).toBe('the test trace exporter could not be loaded: Cannot find package');
    }
    expect(lines.filter((line) => line.includes('could not be loaded'))).toEqual([
      'the test trace exporter could not be loaded; its exports fail',
    ]);
    // Flush and shutdown have nothing to do, and do not reject.
    await lazy.forceFlush();
    await lazy.shutdown();
  });

  it(`lets at most ${MAX_WAITING_EXPORTS} exports wait for the load; more fail at once`, async () => {
    const loader = gatedLoader<SpanExporter>();
    const lazy = new LazySpanExporter('test trace', loader.load);
    const waiting = Array.from({ length: MAX_WAITING_EXPORTS }, () => exportOnce(lazy));
    const refused = await exportOnce(lazy);
    expect(refused.code).toBe(ExportResultCode.FAILED);
    expect(refused.error?.message).toMatch(/still loading/);
    loader.resolve(new InMemorySpanExporter());
    for (const result of await Promise.all(waiting)) expect(result.code).toBe(ExportResultCode.SUCCESS);
  });
});

describe('LazyMetricExporter', () => {
  it('answers the configured temporality before and after its package has loaded', async () => {
    const loader = gatedLoader<InMemoryMetricExporter>();
    const lazy = new LazyMetricExporter('test metric', loader.load, 'delta');
    // The SDK asks at the first collection and keeps the answer: it must be right before the load.
    expect(lazy.selectAggregationTemporality(InstrumentType.COUNTER)).toBe(AggregationTemporality.DELTA);
    expect(lazy.selectAggregationTemporality(InstrumentType.UP_DOWN_COUNTER)).toBe(
      AggregationTemporality.CUMULATIVE,
    );
    loader.resolve(new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE));
    await lazy.forceFlush();
    expect(lazy.selectAggregationTemporality(InstrumentType.COUNTER)).toBe(AggregationTemporality.DELTA);
    await lazy.shutdown();
    const cumulative = new LazyMetricExporter('test metric', gatedLoader<InMemoryMetricExporter>().load);
    expect(cumulative.selectAggregationTemporality(InstrumentType.HISTOGRAM)).toBe(
      AggregationTemporality.CUMULATIVE,
    );
  });

  it.each([
    ['cumulative', InstrumentType.COUNTER, AggregationTemporality.CUMULATIVE],
    ['delta', InstrumentType.HISTOGRAM, AggregationTemporality.DELTA],
    ['delta', InstrumentType.OBSERVABLE_GAUGE, AggregationTemporality.DELTA],
    ['delta', InstrumentType.OBSERVABLE_UP_DOWN_COUNTER, AggregationTemporality.CUMULATIVE],
    ['lowmemory', InstrumentType.COUNTER, AggregationTemporality.DELTA],
    ['lowmemory', InstrumentType.OBSERVABLE_COUNTER, AggregationTemporality.CUMULATIVE],
  ] as const)('%s gives %s the temporality the OTLP exporters choose', (preference, type, expected) => {
    expect(temporalityFor(preference, type)).toBe(expected);
  });
});

const PROBE = join(import.meta.dirname, 'fixtures/otlp-load-probe.mjs');

/**
 * Runs a host app the way users run one (`node --import perf-sidecar/register`, the built package)
 * with `env`, and returns the OTLP packages it loaded: the probe is preloaded through NODE_OPTIONS,
 * so its hook is in place before the preload entry starts telemetry. The app stops telemetry before
 * it exits, which waits for an exporter still loading: whatever was selected has loaded by then.
 */
async function loadedOtlpPackages(env: Record<string, string>): Promise<string[]> {
  const out = join(mkdtempSync(join(tmpdir(), 'perf-sidecar-probe-')), 'loaded.json');
  const app = await runFixture('otel-env-app.mjs', {
    LOG_LEVEL: 'silent',
    NODE_OPTIONS: `--import=${pathToFileURL(PROBE).href}`,
    FIXTURE_LOADED_OUT: out,
    ...env,
  });
  expect(app.status, app.stderr).toBe(0);
  return JSON.parse(readFileSync(out, 'utf8')) as string[];
}

describe('telemetry without OTLP settings (host app under the preload, built dist)', () => {
  it('loads no OTLP exporter package and not @grpc/grpc-js', async () => {
    expect(await loadedOtlpPackages({})).toEqual([]);
  }, 60_000);

  it('loads the gRPC trace exporter, and only the packages selected, once OTLP over gRPC is selected', async () => {
    const loaded = await loadedOtlpPackages({
      // Nothing listens there: the export fails, which this test does not look at.
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:9',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
    });
    expect(loaded).toEqual(['@grpc/grpc-js', '@opentelemetry/exporter-trace-otlp-grpc']);
  }, 60_000);
});
