/**
 * The OpenTelemetry-to-Prometheus name rules of the Collector's Prometheus exporter (default
 * `add_metric_suffixes: true`), as `prometheusMetricName` applies them to every metric on /metrics.
 */
import { describe, expect, it } from 'vitest';
import { type PrometheusNameInput, prometheusMetricName } from '../../src/telemetry/prometheus.ts';

describe('prometheusMetricName', () => {
  it.each<[PrometheusNameInput, string]>([
    [
      { name: 'http.server.request.duration', unit: 's', type: 'histogram' },
      'http_server_request_duration_seconds',
    ],
    [{ name: 'perf.system.memory.rss', unit: 'By', type: 'gauge' }, 'perf_system_memory_rss_bytes'],
    [{ name: 'perf.system.cpu.utilization', unit: '1', type: 'gauge' }, 'perf_system_cpu_utilization_ratio'],
    [{ name: 'nodejs.eventloop.time', unit: 's', type: 'counter' }, 'nodejs_eventloop_time_seconds_total'],
    [{ name: 'perf.target.breaches', unit: '{breach}', type: 'counter' }, 'perf_target_breaches_total'],
    [{ name: 'perf.cache.entries', unit: '{entry}', type: 'gauge' }, 'perf_cache_entries'],
    [{ name: 'perf.cache.breaker.open', unit: '', type: 'gauge' }, 'perf_cache_breaker_open'],
    [{ name: 'net.io', unit: 'By/s', type: 'gauge' }, 'net_io_bytes_per_second'],
    [{ name: 'old.duration', unit: 'ms', type: 'histogram' }, 'old_duration_milliseconds'],
    [{ name: 'disk.usage', unit: '%', type: 'gauge' }, 'disk_usage_percent'],
    // The unit is not repeated when a name token already says it.
    [{ name: 'process.cpu.time.seconds', unit: 's', type: 'counter' }, 'process_cpu_time_seconds_total'],
    // `_total` and `_ratio` are moved to the end, never doubled.
    [{ name: 'requests.total', unit: '', type: 'counter' }, 'requests_total'],
    [{ name: 'hit.ratio', unit: '1', type: 'gauge' }, 'hit_ratio'],
    // Unit 1 on a counter adds nothing.
    [{ name: 'jobs.done', unit: '1', type: 'counter' }, 'jobs_done_total'],
    // Reserved histogram suffixes on other types.
    [
      { name: 'db.client.connection.count', unit: '{connection}', type: 'updowncounter' },
      'db_client_connections',
    ],
    [{ name: 'queue.count', unit: '{item}', type: 'gauge' }, 'queue_count_value'],
    [{ name: 'queue.sum', unit: '', type: 'updowncounter' }, 'queue_sum_value'],
    [{ name: '2xx.responses', unit: '', type: 'counter' }, '_2xx_responses_total'],
  ])('%o -> %s', (input, expected) => {
    expect(prometheusMetricName(input)).toBe(expected);
  });
});
