/**
 * Builds the Grafana dashboards in grafana/dashboards/*.json: `npm run dashboards`.
 *
 * The JSON files are generated so that every panel follows the same conventions (data source uids,
 * the service filters, units, the classic dashboard model of `SCHEMA_VERSION`), and they are
 * committed, because Grafana provisions files. test/stack/dashboards.test.ts fails when the
 * committed files differ from what this module builds, and test/stack/prometheus.test.ts runs every
 * PromQL expression in them against a real Prometheus scraping the demo workload.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
// Grafana's own generated types of the classic dashboard model: `npm run typecheck` holds every
// dashboard, panel and variable built here to them (fresh object literals get excess-property checks).
import type { Dashboard, Panel, VariableModel } from '@grafana/schema';
import { badShareRecord, SLO_ALERT_NAME } from '../scripts/slo-rules.ts';
import { DEFAULT_PERIOD_DAYS } from '../src/slo/objectives.ts';
import { ALERT_WINDOWS, burnThreshold, WINDOW_MINUTES, windowLabel } from '../src/slo/windows.ts';

/** The classic dashboard model version the files declare (Grafana 12.x reads it without migration). */
export const SCHEMA_VERSION = 41;
/** Data source uids, as provisioned in grafana/provisioning/datasources/datasources.yaml. */
export const PROMETHEUS_UID = 'perf-prometheus';
export const JAEGER_UID = 'perf-jaeger';

/**
 * Prometheus names of the sidecar's error-budget gauges (src/slo/semconv.ts: `perf.slo.objective`,
 * `perf.slo.budget.remaining`, `perf.slo.burn_rate`, `perf.slo.alert.active`). They must match what
 * /metrics shows: these are the names of gauges created without a unit; with unit `1`, the renaming
 * in src/telemetry/prometheus.ts would append `_ratio` (`perf_slo_burn_rate_ratio`).
 */
export const SLO_OBJECTIVE_METRIC = 'perf_slo_objective';
/** See {@link SLO_OBJECTIVE_METRIC}: share of the budget left (1 untouched, 0 spent, below 0 overspent). */
export const SLO_BUDGET_REMAINING_METRIC = 'perf_slo_budget_remaining';
/** See {@link SLO_OBJECTIVE_METRIC}: burn rate over the window of its `perf_slo_window` label. */
export const SLO_BURN_RATE_METRIC = 'perf_slo_burn_rate';
/** See {@link SLO_OBJECTIVE_METRIC}: 1 while an alert of its `perf_slo_severity` label fires, else 0. */
export const SLO_ALERT_ACTIVE_METRIC = 'perf_slo_alert_active';

const PROM = { type: 'prometheus', uid: PROMETHEUS_UID } as const;
const JAEGER = { type: 'jaeger', uid: JAEGER_UID } as const;

/**
 * Restricts a vector to the processes whose `service.name` matches `$service`. perf-sidecar's
 * metrics carry the resource only on `target_info` (the OpenTelemetry Prometheus convention), so
 * the filter joins on the scrape identity. Not for the operation metrics: see {@link OP}.
 */
const SVC = 'and on (job, instance) target_info{service_name=~"$service"}';
const RI = '$__rate_interval';

/**
 * Selector of the operation metrics (`$service` and `$operation`). These metrics carry
 * `service_name` themselves: the span's service, the sidecar's own or one that exports to it, which
 * `target_info` (the sidecar's own resource) does not name, so they are filtered by it directly,
 * never through {@link SVC}. Every panel over them filters with it and groups by {@link OPS_BY}, so
 * that operations of the same name in two services never merge.
 */
const OP = 'service_name=~"$service",perf_operation=~"$operation"';
const OPS_BY = ['service_name', 'perf_operation'];
const OPS = OPS_BY.join(', ');
const OPS_LEGEND = '{{service_name}} {{perf_operation}}';
const RUNS = 'perf_operation_duration_seconds_count';

/** `rate(metric{selector}[$__rate_interval])` for the selected services. */
function rate(metric: string, selector = ''): string {
  return `(rate(${metric}${selector ? `{${selector}}` : ''}[${RI}]) ${SVC})`;
}

/** `rate(metric{selector}[$__rate_interval])` of the operation metrics: the selector filters the service. */
function opRate(metric: string, selector: string): string {
  return `rate(${metric}{${selector}}[${RI}])`;
}

/** A gauge for the selected services. */
function gauge(metric: string, selector = ''): string {
  return `(${metric}${selector ? `{${selector}}` : ''} ${SVC})`;
}

/** `histogram_quantile(q, ...)` over a histogram's buckets, grouped by `by`. */
function quantile(q: number, histogram: string, by: string[], selector = ''): string {
  return `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) ${rate(`${histogram}_bucket`, selector)})`;
}

/** {@link quantile} of an operation histogram, whose selector filters the service. */
function opQuantile(q: number, histogram: string, by: string[], selector: string): string {
  return `histogram_quantile(${q}, sum by (${['le', ...by].join(', ')}) (${opRate(`${histogram}_bucket`, selector)}))`;
}

/**
 * `sum by (by) (rate(metric{selector}))`, or 0 for every group that the reference series has but
 * the metric does not (yet): counters that only appear on their first increment (5xx responses,
 * frustrated runs, timeouts) then show 0 instead of "no data".
 */
function rateOrZero(metric: string, selector: string, by: string[], reference: string): string {
  const group = by.join(', ');
  return `(sum by (${group}) ${rate(metric, selector)} or (sum by (${group}) ${rate(reference)} * 0))`;
}

/** {@link rateOrZero} over the operation metrics: both selectors filter the service. */
function opRateOrZero(metric: string, selector: string, by: string[], reference: string): string {
  const group = by.join(', ');
  return `(sum by (${group}) (${opRate(metric, selector)}) or (sum by (${group}) (${opRate(reference, OP)}) * 0))`;
}

interface Target {
  readonly expr: string;
  readonly legend: string;
  /** Every series of this query is drawn as a dashed red threshold line (a target). */
  readonly dashed?: boolean;
}

interface PanelSpec {
  readonly title: string;
  readonly description: string;
  readonly type?: 'timeseries' | 'stat' | 'bargauge' | 'table';
  readonly unit: string;
  readonly targets: readonly Target[];
  readonly w?: number;
  readonly h?: number;
  readonly min?: number;
  readonly max?: number;
  readonly stack?: boolean;
  readonly repeat?: string;
  readonly instant?: boolean;
}

type Json = Record<string, unknown>;

function panel(spec: PanelSpec, id: number, x: number, y: number): Panel {
  const type = spec.type ?? 'timeseries';
  const w = spec.w ?? 12;
  const h = spec.h ?? 8;
  const defaults: Json = { unit: spec.unit };
  if (spec.min !== undefined) defaults.min = spec.min;
  if (spec.max !== undefined) defaults.max = spec.max;
  if (type === 'timeseries') {
    defaults.custom = {
      drawStyle: 'line',
      lineWidth: 1,
      fillOpacity: spec.stack ? 30 : 10,
      showPoints: 'never',
      spanNulls: false,
      stacking: { mode: spec.stack ? 'normal' : 'none', group: 'A' },
    };
  }
  const refId = (i: number) => String.fromCharCode(65 + i);
  const dashed = spec.targets.flatMap((t, i) => (t.dashed ? [refId(i)] : []));
  const overrides = dashed.map((ref) => ({
    matcher: { id: 'byFrameRefID', options: ref },
    properties: [
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'custom.fillOpacity', value: 0 },
      { id: 'color', value: { mode: 'fixed', fixedColor: 'red' } },
    ],
  }));
  const options: Json =
    type === 'timeseries'
      ? {
          legend: {
            displayMode: 'table',
            placement: 'bottom',
            showLegend: true,
            calcs: ['lastNotNull', 'max'],
          },
          tooltip: { mode: 'multi', sort: 'desc' },
        }
      : type === 'bargauge'
        ? {
            orientation: 'horizontal',
            displayMode: 'gradient',
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
          }
        : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value' };
  const out: Panel = {
    id,
    type,
    title: spec.title,
    description: spec.description,
    datasource: PROM,
    gridPos: { h, w, x, y },
    fieldConfig: { defaults, overrides },
    options,
    targets: spec.targets.map((t, i) => ({
      refId: refId(i),
      datasource: PROM,
      editorMode: 'code',
      expr: t.expr,
      legendFormat: t.legend,
      range: !spec.instant,
      instant: spec.instant === true,
    })),
  };
  if (spec.repeat) {
    out.repeat = spec.repeat;
    out.repeatDirection = 'h';
    out.maxPerRow = 2;
  }
  return out;
}

function layout(specs: readonly (PanelSpec | Panel)[]): Panel[] {
  const panels: Panel[] = [];
  let x = 0;
  let y = 0;
  let rowHeight = 0;
  specs.forEach((spec, i) => {
    const isSpec = 'targets' in spec && 'unit' in spec;
    const w = isSpec ? ((spec as PanelSpec).w ?? 12) : 24;
    const h = isSpec ? ((spec as PanelSpec).h ?? 8) : 10;
    if (x + w > 24) {
      x = 0;
      y += rowHeight;
      rowHeight = 0;
    }
    panels.push(
      isSpec ? panel(spec as PanelSpec, i + 1, x, y) : { ...spec, id: i + 1, gridPos: { h, w, x, y } },
    );
    x += w;
    rowHeight = Math.max(rowHeight, h);
  });
  return panels;
}

function queryVariable(name: string, label: string, query: string): VariableModel {
  return {
    name,
    label,
    type: 'query',
    datasource: PROM,
    query: { qryType: 1, query, refId: 'PrometheusVariableQueryEditor-VariableQuery' },
    refresh: 2,
    multi: true,
    includeAll: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    options: [],
    regex: '',
    sort: 1,
    hide: 0,
    skipUrlSync: false,
  };
}

/** The processes (their `service.name`, on `target_info`): for the process metrics. */
const SERVICE_VARIABLE = queryVariable('service', 'Service', 'label_values(target_info, service_name)');
/**
 * The services of the operations: the operation metrics carry `service_name` themselves, the span's
 * service (the sidecar's own, or a service that exports to it), which `target_info` does not list.
 */
const OPERATION_SERVICE_VARIABLE = queryVariable(
  'service',
  'Service',
  'label_values(perf_operation_duration_seconds_count, service_name)',
);
const OPERATION_VARIABLE = queryVariable(
  'operation',
  'Operation',
  'label_values(perf_operation_duration_seconds_count{service_name=~"$service"}, perf_operation)',
);

function dashboard(
  uid: string,
  title: string,
  description: string,
  variables: VariableModel[],
  specs: (PanelSpec | Panel)[],
  from = 'now-1h',
): Dashboard {
  return {
    uid,
    title,
    description,
    tags: ['perf-sidecar'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: '30s',
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    time: { from, to: 'now' },
    timepicker: {},
    weekStart: '',
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      {
        title: 'perf-sidecar dashboards',
        type: 'dashboards',
        tags: ['perf-sidecar'],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        icon: 'external link',
        targetBlank: false,
        tooltip: '',
        url: '',
      },
    ],
    templating: { list: variables },
    panels: layout(specs),
  };
}

/** `sum by (service_name, perf_operation) (rate(metric{OP}))`. */
function opSum(metric: string): string {
  return `sum by (${OPS}) (${opRate(metric, OP)})`;
}

/** Apdex with T = the operation's target, tolerated up to 4T: (satisfied + tolerating / 2) / all. */
const APDEX = `(
  ${opRateOrZero(RUNS, `${OP},perf_target_exceeded="false"`, OPS_BY, RUNS)}
  + (
    ${opRateOrZero('perf_target_breaches_total', OP, OPS_BY, RUNS)}
    - ${opRateOrZero('perf_target_frustrated_total', OP, OPS_BY, RUNS)}
  ) / 2
) / ${opSum(RUNS)}`;

function operations() {
  return dashboard(
    'perf-operations',
    'perf-sidecar: operations vs targets',
    'Every tracked operation against its target: percentiles with the target line, breaches, Apdex, errors.',
    [OPERATION_SERVICE_VARIABLE, OPERATION_VARIABLE],
    [
      {
        title: '$operation: duration p50 / p95 / p99 vs target',
        description:
          'Percentiles read from the duration histogram (its buckets include every target T and 4T), per service. The dashed lines are the targets.',
        unit: 's',
        repeat: 'operation',
        targets: [
          {
            expr: opQuantile(0.5, 'perf_operation_duration_seconds', OPS_BY, OP),
            legend: `${OPS_LEGEND} p50`,
          },
          {
            expr: opQuantile(0.95, 'perf_operation_duration_seconds', OPS_BY, OP),
            legend: `${OPS_LEGEND} p95`,
          },
          {
            expr: opQuantile(0.99, 'perf_operation_duration_seconds', OPS_BY, OP),
            legend: `${OPS_LEGEND} p99`,
          },
          {
            expr: `max by (${OPS}) (perf_operation_target_seconds{${OP}})`,
            legend: `${OPS_LEGEND} target`,
            dashed: true,
          },
        ],
      },
      {
        title: 'Apdex by operation (T = target, frustrated past 4T)',
        description:
          '(runs within target + half of the runs between T and 4T) / all runs, per service and operation.',
        unit: 'none',
        min: 0,
        max: 1,
        targets: [{ expr: APDEX, legend: OPS_LEGEND }],
      },
      {
        title: 'Target breaches per second',
        description: 'Runs longer than their target (perf_target_breaches_total), per service and operation.',
        unit: 'ops',
        stack: true,
        targets: [{ expr: opSum('perf_target_breaches_total'), legend: OPS_LEGEND }],
      },
      {
        title: 'Share of runs over target',
        description: 'Breaches / runs, per service and operation.',
        unit: 'percentunit',
        min: 0,
        targets: [
          {
            expr: `${opRateOrZero('perf_target_breaches_total', OP, OPS_BY, RUNS)} / ${opSum(RUNS)}`,
            legend: OPS_LEGEND,
          },
        ],
      },
      {
        title: 'Runs per second by outcome',
        description: 'Every evaluated operation span, by service, operation and outcome (ok / error).',
        unit: 'ops',
        stack: true,
        targets: [
          {
            expr: `sum by (${OPS}, perf_outcome) (${opRate(RUNS, OP)})`,
            legend: `${OPS_LEGEND} {{perf_outcome}}`,
          },
        ],
      },
      {
        title: 'Error ratio',
        description: 'Runs that ended with an error / all runs, per service and operation.',
        unit: 'percentunit',
        min: 0,
        targets: [
          {
            expr: `${opRateOrZero(RUNS, `${OP},perf_outcome="error"`, OPS_BY, RUNS)} / ${opSum(RUNS)}`,
            legend: OPS_LEGEND,
          },
        ],
      },
      {
        type: 'table',
        title: 'Recent traces of $service (Jaeger)',
        description:
          'The latest traces in Jaeger; open one to see the operation span and its pg / ioredis children.',
        datasource: JAEGER,
        fieldConfig: { defaults: {}, overrides: [] },
        options: { showHeader: true },
        targets: [{ refId: 'A', datasource: JAEGER, queryType: 'search', service: '$service', limit: 20 }],
      },
    ],
  );
}

const HTTP = 'http_server_request_duration_seconds';

function http() {
  return dashboard(
    'perf-http',
    'perf-sidecar: HTTP by route',
    'Server requests by route template (http.route), from the http instrumentation.',
    [SERVICE_VARIABLE],
    [
      {
        title: 'Requests per second by route',
        description: 'By route template and method.',
        unit: 'reqps',
        stack: true,
        targets: [
          {
            expr: `sum by (http_route, http_request_method) ${rate(`${HTTP}_count`)}`,
            legend: '{{http_request_method}} {{http_route}}',
          },
        ],
      },
      {
        title: 'Server errors (5xx) ratio by route',
        description: '5xx responses / all responses, per route.',
        unit: 'percentunit',
        min: 0,
        targets: [
          {
            expr: `${rateOrZero(`${HTTP}_count`, 'http_response_status_code=~"5.."', ['http_route'], `${HTTP}_count`)} / sum by (http_route) ${rate(`${HTTP}_count`)}`,
            legend: '{{http_route}}',
          },
        ],
      },
      {
        title: 'Responses per second by status code',
        description: 'Every response, by status code.',
        unit: 'reqps',
        stack: true,
        targets: [
          {
            expr: `sum by (http_response_status_code) ${rate(`${HTTP}_count`)}`,
            legend: '{{http_response_status_code}}',
          },
        ],
      },
      {
        title: 'Latency p95 by route',
        description: 'From the http.server.request.duration histogram.',
        unit: 's',
        targets: [{ expr: quantile(0.95, HTTP, ['http_route']), legend: '{{http_route}}' }],
      },
      {
        title: 'Latency p50 / p99, all routes',
        description: 'From the http.server.request.duration histogram.',
        unit: 's',
        w: 24,
        targets: [
          { expr: quantile(0.5, HTTP, []), legend: 'p50' },
          { expr: quantile(0.99, HTTP, []), legend: 'p99' },
        ],
      },
    ],
  );
}

function cache() {
  return dashboard(
    'perf-cache',
    'perf-sidecar: cache',
    'The multi-level cache: hit rate per level, Redis (L2) latency, the circuit breaker, memory use.',
    [SERVICE_VARIABLE],
    [
      {
        title: 'Hit rate per level',
        description: 'Hits / lookups at each level (memory = L1, redis = L2; L2 sees only L1 misses).',
        unit: 'percentunit',
        min: 0,
        max: 1,
        targets: [
          {
            expr: `${rateOrZero('perf_cache_lookups_total', 'cache_result="hit"', ['cache_name', 'cache_level'], 'perf_cache_lookups_total')} / sum by (cache_name, cache_level) ${rate('perf_cache_lookups_total')}`,
            legend: '{{cache_name}} {{cache_level}}',
          },
        ],
      },
      {
        title: 'Lookups per second by level and result',
        description: 'hit / miss / stale (served within grace) per level.',
        unit: 'ops',
        stack: true,
        targets: [
          {
            expr: `sum by (cache_level, cache_result) ${rate('perf_cache_lookups_total')}`,
            legend: '{{cache_level}} {{cache_result}}',
          },
        ],
      },
      {
        title: 'Redis (L2) latency p50 / p95 / p99',
        description: 'Round trips of the cache to Redis, all operations.',
        unit: 's',
        targets: [
          { expr: quantile(0.5, 'perf_cache_redis_duration_seconds', []), legend: 'p50' },
          { expr: quantile(0.95, 'perf_cache_redis_duration_seconds', []), legend: 'p95' },
          { expr: quantile(0.99, 'perf_cache_redis_duration_seconds', []), legend: 'p99' },
        ],
      },
      {
        title: 'Redis (L2) round trips per second by operation and outcome',
        description: 'read / write / clock ..., ok or error.',
        unit: 'ops',
        stack: true,
        targets: [
          {
            expr: `sum by (cache_operation, perf_outcome) ${rate('perf_cache_redis_duration_seconds_count')}`,
            legend: '{{cache_operation}} {{perf_outcome}}',
          },
        ],
      },
      {
        title: 'Circuit breaker open',
        description: '1 while the Redis level is skipped (breaker open or probing).',
        unit: 'bool',
        min: 0,
        max: 1,
        targets: [
          { expr: `max by (cache_name) ${gauge('perf_cache_breaker_open')}`, legend: '{{cache_name}}' },
        ],
      },
      {
        title: 'Memory level: entries and evictions',
        description: 'Entries held and evictions per second (maxItems / maxBytes).',
        unit: 'short',
        targets: [
          { expr: `sum by (cache_name) ${gauge('perf_cache_entries')}`, legend: '{{cache_name}} entries' },
          {
            expr: `sum by (cache_name) ${rate('perf_cache_evictions_total')}`,
            legend: '{{cache_name}} evictions/s',
          },
        ],
      },
      {
        title: 'Factory duration p95 (misses)',
        description: 'getOrSet factories run on a miss.',
        unit: 's',
        w: 24,
        targets: [
          {
            expr: quantile(0.95, 'perf_cache_factory_duration_seconds', ['cache_name']),
            legend: '{{cache_name}}',
          },
        ],
      },
    ],
  );
}

function database() {
  return dashboard(
    'perf-database',
    'perf-sidecar: database',
    'PostgreSQL through the database service and instrumentation-pg: durations, pool, slow queries.',
    [SERVICE_VARIABLE],
    [
      {
        title: 'Operation duration p95 by statement type',
        description: 'db.client.operation.duration (instrumentation-pg), by db.operation.name.',
        unit: 's',
        targets: [
          {
            expr: quantile(0.95, 'db_client_operation_duration_seconds', ['db_operation_name']),
            legend: '{{db_operation_name}}',
          },
        ],
      },
      {
        title: 'Statements per second by type',
        description: 'Every statement sent by pg.',
        unit: 'ops',
        stack: true,
        targets: [
          {
            expr: `sum by (db_operation_name) ${rate('db_client_operation_duration_seconds_count')}`,
            legend: '{{db_operation_name}}',
          },
        ],
      },
      {
        title: 'Pool connections: in use / idle / waiting',
        description: 'The database service pool (perf.db.pool.*), observed at each scrape.',
        unit: 'short',
        stack: false,
        targets: [
          {
            expr: `sum by (db_client_connection_pool_name, db_client_connection_state) ${gauge('perf_db_pool_connections')}`,
            legend: '{{db_client_connection_pool_name}} {{db_client_connection_state}}',
          },
          {
            expr: `sum by (db_client_connection_pool_name) ${gauge('perf_db_pool_waiting')}`,
            legend: '{{db_client_connection_pool_name}} waiting',
          },
        ],
      },
      {
        title: 'Wait for a connection p95',
        description: 'db.client.connection.wait_time of service calls (includes timeouts).',
        unit: 's',
        targets: [
          {
            expr: quantile(0.95, 'db_client_connection_wait_time_seconds', [
              'db_client_connection_pool_name',
            ]),
            legend: '{{db_client_connection_pool_name}}',
          },
        ],
      },
      {
        title: 'Slow queries per second',
        description: 'slow_query alerts raised (statements over DB_SLOW_QUERY_SECONDS, and pool exhaustion).',
        unit: 'ops',
        targets: [
          {
            expr: `sum ${rate('perf_alerts_emitted_total', 'alert_type="slow_query"')}`,
            legend: 'slow queries',
          },
        ],
      },
      {
        title: 'Pool checkouts timed out',
        description: 'db.client.connection.timeouts: the pool was exhausted for DB_POOL_TIMEOUT.',
        unit: 'ops',
        targets: [
          {
            expr: rateOrZero(
              'db_client_connection_timeouts_total',
              '',
              ['db_client_connection_pool_name'],
              'db_client_connection_wait_time_seconds_count',
            ),
            legend: '{{db_client_connection_pool_name}}',
          },
        ],
      },
    ],
  );
}

function runtime() {
  return dashboard(
    'perf-runtime',
    'perf-sidecar: runtime',
    'The process: resident memory, heap, CPU, event-loop delay and utilisation.',
    [SERVICE_VARIABLE],
    [
      {
        title: 'Resident memory (RSS)',
        description: 'perf.system.memory.rss from the resource sampler (every second).',
        unit: 'bytes',
        targets: [
          { expr: `max by (instance) ${gauge('perf_system_memory_rss_bytes')}`, legend: '{{instance}}' },
        ],
      },
      {
        title: 'Heap used',
        description: 'perf.system.memory.heap_used (sampler) and v8js.memory.heap.used summed over spaces.',
        unit: 'bytes',
        targets: [
          {
            expr: `max by (instance) ${gauge('perf_system_memory_heap_used_bytes')}`,
            legend: '{{instance}} heap used',
          },
          {
            expr: `sum by (instance) ${gauge('v8js_memory_heap_used_bytes')}`,
            legend: '{{instance}} v8 spaces',
          },
        ],
      },
      {
        title: 'CPU (share of one core)',
        description:
          'perf.system.cpu.utilization (unit 1, 1 = one core busy): process CPU time over the sampler window.',
        unit: 'percentunit',
        min: 0,
        targets: [
          { expr: `max by (instance) ${gauge('perf_system_cpu_utilization_ratio')}`, legend: '{{instance}}' },
        ],
      },
      {
        title: 'Event-loop delay p99',
        description:
          'perf.system.eventloop.delay.p99 (per sampler window) and runtime-node nodejs.eventloop.delay.p99.',
        unit: 's',
        targets: [
          {
            expr: `max by (instance) ${gauge('perf_system_eventloop_delay_p99_seconds')}`,
            legend: '{{instance}} sampler',
          },
          {
            expr: `max by (instance) ${gauge('nodejs_eventloop_delay_p99_seconds')}`,
            legend: '{{instance}} runtime-node',
          },
        ],
      },
      {
        title: 'Event-loop utilisation',
        description: 'Share of time the loop was busy: sampler window, and runtime-node active time rate.',
        unit: 'percentunit',
        min: 0,
        max: 1,
        targets: [
          {
            expr: `max by (instance) ${gauge('perf_system_eventloop_utilization_ratio')}`,
            legend: '{{instance}} sampler',
          },
          {
            expr: `sum by (instance) ${rate('nodejs_eventloop_time_seconds_total', 'nodejs_eventloop_state="active"')}`,
            legend: '{{instance}} runtime-node',
          },
        ],
      },
      {
        title: 'GC time per second',
        description: 'v8js.gc.duration, by GC type.',
        unit: 's',
        stack: true,
        targets: [
          {
            expr: `sum by (v8js_gc_type) ${rate('v8js_gc_duration_seconds_sum')}`,
            legend: '{{v8js_gc_type}}',
          },
        ],
      },
    ],
  );
}

function alerts() {
  return dashboard(
    'perf-alerts',
    'perf-sidecar: alerts by type',
    'Alerts raised by the sidecar (before deduplication), the Redis write buffer, drops.',
    [OPERATION_SERVICE_VARIABLE, OPERATION_VARIABLE],
    [
      {
        title: 'Alerts raised per second by type',
        description:
          'perf.alerts.emitted, before deduplication into records, summed over every sidecar process (alert counters carry no service).',
        unit: 'ops',
        stack: true,
        targets: [
          { expr: `sum by (alert_type) (rate(perf_alerts_emitted_total[${RI}]))`, legend: '{{alert_type}}' },
        ],
      },
      {
        type: 'bargauge',
        title: 'Alerts raised in the time range by type',
        description: 'Increase of perf.alerts.emitted over the dashboard range, every sidecar process.',
        unit: 'short',
        instant: true,
        targets: [
          {
            expr: 'sum by (alert_type) (increase(perf_alerts_emitted_total[$__range]))',
            legend: '{{alert_type}}',
          },
        ],
      },
      {
        title: 'Target breaches per second by operation',
        description: 'target_exceeded alerts come from these breaches, per service and operation.',
        unit: 'ops',
        stack: true,
        targets: [{ expr: opSum('perf_target_breaches_total'), legend: OPS_LEGEND }],
      },
      {
        title: 'Alert records buffered / dropped',
        description:
          'Records waiting for Redis, and records dropped because the buffer was full, every sidecar process.',
        unit: 'short',
        targets: [
          { expr: 'sum (perf_alerts_buffered)', legend: 'buffered' },
          {
            expr: 'sum (increase(perf_alerts_dropped_total[$__range])) or (sum (perf_alerts_buffered) * 0)',
            legend: 'dropped in range',
          },
        ],
      },
    ],
  );
}

/** A burn rate or threshold without float noise (0.02 x 30 x 1440 / 60 = 14.399999999999999). */
function clean(n: number): number {
  return Number(n.toPrecision(12));
}

/**
 * The error budgets: the sidecar's gauges (budget left, burn rate per window, its own alert state)
 * next to what Prometheus computes from the histogram with the generated rules of
 * prometheus-slo-rules.yml (bad share per window, the PerfErrorBudgetBurn alerts), so that both
 * evaluations can be compared.
 */
function slo() {
  const ops = (metric: string, extra: string[] = []) =>
    `max by (${[...OPS_BY, ...extra].join(', ')}) (${metric}{${OP}})`;
  // The burn rate thresholds depend on the period only (the objective scales the budget, not the
  // rate): drawn for the default period, as the committed rules are generated for it.
  const thresholds: Target[] = ALERT_WINDOWS.map((w) => {
    const threshold = clean(burnThreshold(w, DEFAULT_PERIOD_DAYS));
    return {
      expr: `vector(${threshold})`,
      legend: `${w.severity} threshold ${windowLabel(w.longMinutes)} / ${windowLabel(w.shortMinutes)}: ${threshold}`,
      dashed: true,
    };
  });
  const alerts = `ALERTS{alertname="${SLO_ALERT_NAME}",alertstate="firing",${OP}}`;
  return dashboard(
    'perf-slo',
    'perf-sidecar: error budgets',
    `Error budgets of the operations with a target: budget left over the period, burn rates per alert window against the multi-window, multi-burn-rate thresholds (SRE workbook, ${DEFAULT_PERIOD_DAYS}-day period), and the burn-rate alerts.`,
    [OPERATION_SERVICE_VARIABLE, OPERATION_VARIABLE],
    [
      {
        type: 'bargauge',
        title: 'Error budget remaining',
        description:
          "Share of the period's error budget left, per service and operation (perf.slo.budget.remaining: 100 % untouched, 0 spent, below 0 overspent).",
        unit: 'percentunit',
        max: 1,
        instant: true,
        w: 8,
        targets: [{ expr: ops(SLO_BUDGET_REMAINING_METRIC), legend: OPS_LEGEND }],
      },
      {
        title: 'Error budget remaining over time',
        description: 'perf.slo.budget.remaining, per service and operation.',
        unit: 'percentunit',
        w: 16,
        targets: [{ expr: ops(SLO_BUDGET_REMAINING_METRIC), legend: OPS_LEGEND }],
      },
      {
        title: 'Burn rate by window, against the alert thresholds',
        description:
          'perf.slo.burn_rate: the share of bad runs (over target or failed) over each window, divided by the budget (1 - objective); 1 spends the budget exactly over the period. A row of the table fires when both its long and its short window are at or over its dashed threshold: page at 14.4 (1 h and 5 min) or 6 (6 h and 30 min), ticket at 1 (3 d and 6 h).',
        unit: 'none',
        min: 0,
        w: 24,
        targets: [
          {
            expr: ops(SLO_BURN_RATE_METRIC, ['perf_slo_window']),
            legend: `${OPS_LEGEND} {{perf_slo_window}}`,
          },
          ...thresholds,
        ],
      },
      {
        title: 'Share of bad runs by window (Prometheus recording rules)',
        description:
          'perf:slo_bad_share:rate<window> of prometheus-slo-rules.yml: runs over target or failed / all runs, from the duration histogram. The dashed line is the budget, 1 - the objective (perf.slo.objective).',
        unit: 'percentunit',
        min: 0,
        targets: [
          ...WINDOW_MINUTES.map((m) => ({
            expr: ops(badShareRecord(m)),
            legend: `${OPS_LEGEND} ${windowLabel(m)}`,
          })),
          {
            expr: `1 - ${ops(SLO_OBJECTIVE_METRIC)}`,
            legend: `${OPS_LEGEND} budget (1 - objective)`,
            dashed: true,
          },
        ],
      },
      {
        title: 'Burn-rate alerts firing',
        description: `1 while a burn-rate alert fires: the sidecar's own (perf.slo.alert.active, by severity) and Prometheus's ${SLO_ALERT_NAME} (from the generated rules; 0 for the operations without one firing).`,
        unit: 'none',
        min: 0,
        max: 1,
        targets: [
          {
            expr: ops(SLO_ALERT_ACTIVE_METRIC, ['perf_slo_severity']),
            legend: `${OPS_LEGEND} {{perf_slo_severity}} (sidecar)`,
          },
          {
            expr: `max by (${OPS}, severity) (${alerts}) or on (${OPS}) (${ops(badShareRecord(WINDOW_MINUTES[0] ?? 5))} * 0)`,
            legend: `${OPS_LEGEND} {{severity}} (Prometheus)`,
          },
        ],
      },
    ],
    'now-24h',
  );
}

/** Every dashboard, keyed by file name. */
export function buildDashboards(): Record<string, Dashboard> {
  return {
    'perf-operations.json': operations(),
    'perf-http.json': http(),
    'perf-cache.json': cache(),
    'perf-database.json': database(),
    'perf-runtime.json': runtime(),
    'perf-alerts.json': alerts(),
    'perf-slo.json': slo(),
  };
}

/** The file text of a dashboard (stable formatting, trailing newline). */
export function dashboardText(dashboard: Dashboard): string {
  return `${JSON.stringify(dashboard, null, 2)}\n`;
}

if (import.meta.main) {
  const dir = join(import.meta.dirname, 'dashboards');
  for (const [name, dashboard] of Object.entries(buildDashboards())) {
    writeFileSync(join(dir, name), dashboardText(dashboard));
    process.stdout.write(`wrote grafana/dashboards/${name}\n`);
  }
}
