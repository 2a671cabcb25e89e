/**
 * The dashboards against a real Prometheus: the demo workload runs (its in-process sidecar serves
 * /metrics), Debian's `prometheus` scrapes it with the repository's prometheus.yml (the perf-sidecar
 * job's targets rewritten to the demo's port, scrape interval 1 s) and rules, and every PromQL
 * expression of every dashboard panel, with its template variables substituted by values that
 * Prometheus itself reports, must return at least one series.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_UID } from '../../grafana/build.ts';
import { WINDOW_MINUTES } from '../../src/slo/windows.ts';
import { ROOT } from '../helpers/child.ts';
import { escapeRegex, loadDashboards, promQueries, substitute } from '../helpers/dashboards.ts';
import { admin } from '../helpers/db.ts';
import { DemoProcess } from '../helpers/demo.ts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../helpers/env.ts';
import { OwnPrometheus, run } from '../helpers/prometheus.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const SPEED = 100;
const OPERATIONS = ['ai_layout_generation', 'document_ocr', 'simple_query', 'validation'];

interface ScrapeConfig {
  job_name: string;
  static_configs?: { targets: string[] }[];
}

describe('dashboards against a real Prometheus scraping the demo', () => {
  const schema = `perf_demo_${randomUUID().replaceAll('-', '').slice(0, 12)}`;
  const prefix = `perf-test:${randomUUID()}:`;
  const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-stack-'));
  let demo: DemoProcess;
  let prometheus: OwnPrometheus;
  /** An evaluation time inside the workload, when every rate window holds several scrapes. */
  let at = 0;
  /** A time when the error-budget gauges are scraped (after the first minute has been judged). */
  let sloAt = 0;
  let demoExit: number | null = null;

  beforeAll(async () => {
    for (const tool of ['prometheus', 'promtool']) {
      const found = await run('sh', ['-c', `command -v ${tool}`]);
      if (found.code !== 0)
        throw new Error(`${tool} is not installed (apt-get install -y prometheus; .ci/run does it)`);
    }
    demo = DemoProcess.start(
      [
        '--duration',
        '12',
        '--speed',
        String(SPEED),
        '--port',
        '0',
        '--linger',
        'forever',
        '--schema',
        schema,
        '--seed',
        '7',
      ],
      { REDIS_URL: TEST_REDIS_URL, DATABASE_URL: TEST_DATABASE_URL, ALERT_KEY_PREFIX: prefix },
    );
    const url = new URL(await demo.url());

    const config = parse(readFileSync(join(ROOT, 'prometheus.yml'), 'utf8')) as {
      global: Record<string, string>;
      rule_files: string[];
      scrape_configs: ScrapeConfig[];
    };
    config.global.scrape_interval = '1s';
    config.global.scrape_timeout = '1s';
    config.global.evaluation_interval = '1s';
    config.rule_files = config.rule_files.map((f) => join(ROOT, f));
    const job = config.scrape_configs.find((c) => c.job_name === 'perf-sidecar');
    if (!job) throw new Error('prometheus.yml has no perf-sidecar job');
    job.static_configs = [{ targets: [url.host] }];
    const file = join(dir, 'prometheus.yml');
    writeFileSync(file, stringify(config));
    prometheus = await OwnPrometheus.start(file);

    await demo.finished();
    const finishedAt = Date.now() / 1000;
    // One scrape after the workload ended, so everything it did has been ingested.
    await waitFor(
      async () => {
        const [up] = await prometheus.query('timestamp(up{job="perf-sidecar"})');
        return up !== undefined && Number(up.value[1]) > finishedAt;
      },
      { what: 'a scrape after the workload ended', timeoutMs: 30_000, intervalMs: 200 },
    );
    at = finishedAt - 1;
    // The error-budget gauges appear once the budget monitor has judged a written minute: the
    // first minute boundary after the workload's runs, plus the evaluation's offset.
    await waitFor(
      async () => {
        const [gauge] = await prometheus.query('timestamp(perf_slo_budget_remaining)');
        if (gauge === undefined) return false;
        sloAt = Number(gauge.value[1]);
        return true;
      },
      { what: 'the error-budget gauges on /metrics', timeoutMs: 150_000, intervalMs: 500 },
    );
  }, 300_000);

  afterAll(async () => {
    demoExit = (await demo?.stop()) ?? null;
    await prometheus?.stop();
    rmSync(dir, { recursive: true, force: true });
    await admin((c) => c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`));
    const redis = new Redis(TEST_REDIS_URL);
    await deleteKeys(redis, prefix);
    redis.disconnect();
    expect(demoExit).toBe(0);
  }, 60_000);

  it('scrapes the demo: the target is up', async () => {
    const [up] = await prometheus.query('up{job="perf-sidecar"}', at);
    expect(up?.value[1]).toBe('1');
  });

  it('finds the template variables values: the service and the four operations', async () => {
    expect(await prometheus.labelValues('service_name', 'target_info')).toContain('perf-sidecar-demo');
    // The operation dashboards' $service: the services of the operations, on the metrics themselves.
    expect(await prometheus.labelValues('service_name', 'perf_operation_duration_seconds_count')).toEqual([
      'perf-sidecar-demo',
    ]);
    expect(await prometheus.labelValues('perf_operation', 'perf_operation_duration_seconds_count')).toEqual(
      expect.arrayContaining(OPERATIONS),
    );
  });

  it('returns at least one series for every PromQL expression of every dashboard panel', async () => {
    const queries = promQueries(loadDashboards(), PROMETHEUS_UID);
    expect(queries.length).toBeGreaterThan(30);
    const variables = {
      service: escapeRegex('perf-sidecar-demo'),
      operation: escapeRegex('document_ocr'),
      // Grafana's $__rate_interval is at least four scrape intervals (1 s here).
      __rate_interval: '10s',
      __range: '1h',
    };
    const empty: string[] = [];
    for (const q of queries) {
      const when = /perf_slo_/.test(q.expr) ? sloAt : at;
      const result = await prometheus.query(substitute(q.expr, variables), when);
      if (result.length === 0) empty.push(`${q.file} / ${q.panel} / ${q.refId}: ${q.expr}`);
    }
    expect(empty, `expressions without a series:\n${empty.join('\n')}`).toEqual([]);
  });

  it('filters the operation panels by $service: another service leaves them empty', async () => {
    const operations = promQueries(loadDashboards(), PROMETHEUS_UID).filter((q) =>
      /perf_operation_|perf_target_|perf:slo_|perf_slo_|ALERTS/.test(q.expr),
    );
    expect(operations.length).toBeGreaterThan(5);
    const variables = { operation: '.*', __rate_interval: '10s', __range: '1h' };
    const leaking: string[] = [];
    for (const q of operations) {
      const when = /perf_slo_/.test(q.expr) ? sloAt : at;
      const other = substitute(q.expr, { ...variables, service: escapeRegex('another-service') });
      if ((await prometheus.query(other, when)).length > 0)
        leaking.push(`${q.file} / ${q.panel} / ${q.refId}`);
      const own = substitute(q.expr, { ...variables, service: escapeRegex('perf-sidecar-demo') });
      for (const r of await prometheus.query(own, when)) {
        expect(r.metric.service_name, `${q.file} / ${q.panel} / ${q.refId}`).toBe('perf-sidecar-demo');
      }
    }
    expect(leaking, 'operation queries not filtered by $service').toEqual([]);
  });

  it('draws the target line at the scaled target of each operation', async () => {
    const result = await prometheus.query('perf_operation_target_seconds{perf_operation="document_ocr"}', at);
    expect(result.map((r) => Number(r.value[1]))).toEqual([120 / SPEED]);
  });

  it('computes an Apdex between 0 and 1 for every operation', async () => {
    const [panel] = promQueries(loadDashboards(), PROMETHEUS_UID).filter((q) => q.panel.startsWith('Apdex'));
    const result = await prometheus.query(
      substitute(panel?.expr ?? '', { service: '.*', operation: '.*', __rate_interval: '10s' }),
      at,
    );
    expect(result.map((r) => r.metric.perf_operation).sort()).toEqual(OPERATIONS);
    for (const r of result) {
      expect(Number(r.value[1])).toBeGreaterThanOrEqual(0);
      expect(Number(r.value[1])).toBeLessThanOrEqual(1);
    }
  });

  it('sees cache hits at both levels and breaches of the simple queries', async () => {
    const hits = await prometheus.query(
      'sum by (cache_level) (perf_cache_lookups_total{cache_name="demo",cache_result="hit"})',
      at,
    );
    expect(hits.map((h) => h.metric.cache_level).sort()).toEqual(['memory', 'redis']);
    for (const h of hits) expect(Number(h.value[1])).toBeGreaterThan(0);
    const [breaches] = await prometheus.query(
      'perf_target_breaches_total{perf_operation="simple_query"}',
      at,
    );
    expect(Number(breaches?.value[1])).toBeGreaterThan(0);
  });

  it('loads every rule (alerting, and the SLO recording rules) and evaluates each without error on the real series', async () => {
    const res = await fetch(`${prometheus.url}/api/v1/rules`);
    const json = (await res.json()) as {
      data: { groups: { rules: { name: string; health: string; lastError?: string }[] }[] };
    };
    const rules = json.data.groups.flatMap((g) => g.rules);
    // 11 in prometheus-rules.yml; a bad share per window and the page and ticket alerts in the SLO file.
    expect(rules.length).toBe(11 + WINDOW_MINUTES.length + 2);
    await waitFor(
      async () => {
        const again = (await (await fetch(`${prometheus.url}/api/v1/rules`)).json()) as typeof json;
        return again.data.groups.flatMap((g) => g.rules).every((r) => r.health === 'ok');
      },
      { what: 'every rule to be evaluated', timeoutMs: 15_000, intervalMs: 200 },
    );
  });
});
