import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppRun, runFixture } from '../helpers/child.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/env.ts';
import { promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { deleteKeys } from '../helpers/telemetry.ts';

/** Metric family names declared by `# TYPE` lines, with their type. */
function families(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(match[1] ?? '', match[2] ?? '');
  return out;
}

describe('/metrics under every kind of traffic, checked by promtool', () => {
  const prefix = `perf-test:${randomUUID()}:`;
  const schema = `perf_metrics_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  let run: AppRun<{ metrics: string }>;
  let metrics = '';

  beforeAll(async () => {
    run = await runFixture<{ metrics: string }>('metrics-traffic-app.mjs', {
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      APP_REDIS_URL: TEST_REDIS_URL,
      ALERT_KEY_PREFIX: prefix,
      FIXTURE_SCHEMA: schema,
      OTEL_SERVICE_NAME: 'metrics-traffic-app',
      PORT: '0',
      LOG_LEVEL: 'warn',
    });
    metrics = run.out?.metrics ?? '';
  }, 90_000);

  afterAll(async () => {
    const redis = new Redis(TEST_REDIS_URL);
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('runs the app to completion', () => {
    expect(run.status, run.stderr).toBe(0);
    expect(metrics.length).toBeGreaterThan(1000);
  });

  it('has the metrics of every instrumented kind', () => {
    const names = families(metrics);
    const expected: Record<string, string> = {
      // http
      http_server_request_duration_seconds: 'histogram',
      // pg (instrumentation-pg, and the database service's pool)
      db_client_operation_duration_seconds: 'histogram',
      db_client_connections: 'gauge',
      db_client_connection_wait_time_seconds: 'histogram',
      perf_db_pool_connections: 'gauge',
      // cache, both levels, and its Redis commands
      perf_cache_lookups_total: 'counter',
      perf_cache_redis_duration_seconds: 'histogram',
      perf_cache_factory_duration_seconds: 'histogram',
      perf_cache_size_bytes: 'gauge',
      // operations and alerts
      perf_operation_duration_seconds: 'histogram',
      perf_operation_target_seconds: 'gauge',
      perf_target_breaches_total: 'counter',
      perf_alerts_emitted_total: 'counter',
      // the resource sampler
      perf_system_memory_rss_bytes: 'gauge',
      perf_system_cpu_utilization_ratio: 'gauge',
      perf_system_eventloop_utilization_ratio: 'gauge',
      // runtime-node
      v8js_memory_heap_used_bytes: 'gauge',
      nodejs_eventloop_time_seconds_total: 'counter',
      nodejs_eventloop_utilization_ratio: 'gauge',
    };
    const found = Object.fromEntries(Object.keys(expected).map((name) => [name, names.get(name)]));
    expect(found).toEqual(expected);
    expect(metrics).toMatch(/^perf_cache_lookups_total\{[^}]*cache_level="redis",cache_result="hit"/m);
    expect(metrics).toMatch(/^perf_cache_lookups_total\{[^}]*cache_level="memory",cache_result="hit"/m);
  });

  it('keeps the CPU utilisation a 0..1 ratio', () => {
    const values = [...metrics.matchAll(/^perf_system_cpu_utilization_ratio\{[^}]*\} (\S+)$/gm)].map((m) =>
      Number(m[1]),
    );
    expect(values.length).toBe(1);
    for (const value of values) {
      expect(value).toBeGreaterThanOrEqual(0);
      // One process can use more than one core (worker threads, GC): bounded by the machine's cores.
      expect(value).toBeLessThanOrEqual(64);
    }
  });

  it('passes promtool check metrics', async () => {
    const result = await promtoolCheckMetrics(metrics);
    expect(result.output).toBe('');
    expect(result.code).toBe(0);
  });

  it('makes promtool fail on a name it rejects (the check can fail)', async () => {
    const broken = `${metrics}# HELP perf_probe_count A gauge named like a histogram series.\n# TYPE perf_probe_count gauge\nperf_probe_count 1\n`;
    const result = await promtoolCheckMetrics(broken);
    expect(result.code).not.toBe(0);
    expect(result.output).toContain('non-histogram and non-summary metrics should not have "_count" suffix');
  });

  it('uses no unit other than the base units in names (no _milliseconds, no _percent)', () => {
    expect(
      [...families(metrics).keys()].filter((n) => /_(milliseconds|percent|mebibytes)\b/.test(n)),
    ).toEqual([]);
  });
});
