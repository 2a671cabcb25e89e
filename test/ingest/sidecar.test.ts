/**
 * The sidecar watching a service that knows nothing of perf-sidecar, end to end: the sidecar runs
 * as `npm start` runs it (a child process) with a rules file, Redis and a forward endpoint; a plain
 * OpenTelemetry Node service (test/fixtures/plain-otel-service.mjs: the official SDK, configured by
 * the standard variables only) exports to it with each official exporter (OTLP/HTTP protobuf,
 * OTLP/HTTP JSON, OTLP/gRPC), with the ingest token in OTEL_EXPORTER_OTLP_HEADERS. Then: the breach
 * alerts are in the Redis list with the service and its trace ids, the summary shows the service,
 * its operations and its routes, the service's runtime figure raised `high_memory`, and the
 * forwarded copies reached the stand-in Collector annotated with the verdicts. SIGHUP reloads the
 * rules.
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/child.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { OtlpProtoReceiver } from '../helpers/otlp-proto-receiver.ts';
import { promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { getJson, type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'ingest-token-0123456789abcdef';
const PROTOCOLS = ['http/protobuf', 'http/json', 'grpc'] as const;

interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
}
interface Sent {
  readonly slow: SpanIds;
  readonly ownTarget: SpanIds;
  readonly fast: SpanIds;
}
interface Alert {
  type: string;
  labels: { service: string; operation?: string };
  value: number;
  threshold: number;
  trace?: { trace_id: string; span_id: string };
}
interface OperationRow {
  count: number;
  breaches: number;
  errors: number;
  target_s: number | null;
}
interface Report {
  service: string;
  operations: Record<string, OperationRow>;
  http: Record<string, { count: number }>;
  system: { rss_mb: number | null };
  services: Record<string, { own: boolean; runs: number; breaches: number; runtime: boolean }>;
}

const RULES = (routeTarget: number) => `
rules:
  - match: { http.route: /orders/:id, http.request.method: GET, span.kind: server }
    target_seconds: ${routeTarget}
    operation: GET /orders/:id
`;

/** Runs the plain service once, exporting with `protocol`; resolves with the ids it printed. */
function runService(env: Record<string, string>): Promise<Sent> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ROOT, 'test/fixtures/plain-otel-service.mjs')], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
    });
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c;
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the plain service exited with ${code}: ${err}${out}`));
      else resolve(JSON.parse(out.trim().split('\n')[0] ?? '{}') as Sent);
    });
  });
}

describe('the sidecar watching a plain OpenTelemetry service', () => {
  const prefix = `test:${randomUUID()}:`;
  const redis = new Redis(TEST_REDIS_URL);
  const dir = mkdtempSync(join(tmpdir(), 'perf-ingest-'));
  const rulesFile = join(dir, 'rules.yaml');
  let collector: OtlpProtoReceiver;
  let sidecar: SidecarProcess;
  let otlpHttp: string;
  let otlpGrpc: string;
  const sent = new Map<string, Sent>();

  beforeAll(async () => {
    writeFileSync(rulesFile, RULES(0.1));
    collector = await OtlpProtoReceiver.start();
    sidecar = await startSidecarProcess(
      { server: true },
      {
        REDIS_URL: TEST_REDIS_URL,
        ALERT_KEY_PREFIX: prefix,
        ALERT_REPEAT_SECONDS: '0',
        PERF_RULES_FILE: rulesFile,
        PERF_INGEST_TOKEN: TOKEN,
        OTLP_FORWARD_ENDPOINT: collector.url,
        LOG_LEVEL: 'info',
      },
    );
    const line =
      sidecar
        .stdout()
        .split('\n')
        .find((l) => l.includes('"otlpHttp"')) ?? '';
    const endpoints = (JSON.parse(line) as { endpoints: { otlpHttp: string; otlpGrpc: string } }).endpoints;
    otlpHttp = endpoints.otlpHttp.replace(/\/v1\/traces$/, '');
    otlpGrpc = endpoints.otlpGrpc.replace(/^grpc:/, 'http:');
    for (const protocol of PROTOCOLS) {
      const service = `plain-checkout-${protocol.replace('/', '-')}`;
      sent.set(
        protocol,
        await runService({
          OTEL_SERVICE_NAME: service,
          OTEL_EXPORTER_OTLP_ENDPOINT: protocol === 'grpc' ? otlpGrpc : otlpHttp,
          OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
          OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${TOKEN}`,
          OTEL_TRACES_EXPORTER: 'otlp',
          OTEL_METRICS_EXPORTER: 'otlp',
          OTEL_LOGS_EXPORTER: 'none',
          FIXTURE_RSS_BYTES: String(2 * 1024 ** 3),
        }),
      );
    }
  }, 120_000);

  afterAll(async () => {
    await sidecar?.stop();
    await collector?.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
    rmSync(dir, { recursive: true, force: true });
  });

  const serviceOf = (protocol: string) => `plain-checkout-${protocol.replace('/', '-')}`;

  it.each(PROTOCOLS)(
    'raises the breach alerts of a service exporting with %s, with its trace ids',
    async (protocol) => {
      const ids = sent.get(protocol);
      const service = serviceOf(protocol);
      const alerts = await waitFor(
        async () => {
          const records = (await redis.lrange(`${prefix}performance_alerts`, 0, -1)).map(
            (r) => JSON.parse(r) as Alert,
          );
          const mine = records.filter((r) => r.labels.service === service && r.type === 'target_exceeded');
          return mine.length >= 2 ? mine : undefined;
        },
        { what: `two target_exceeded alerts of ${service}`, timeoutMs: 20_000 },
      );
      const byRule = alerts.find((a) => a.labels.operation === 'GET /orders/:id');
      expect(byRule).toMatchObject({
        threshold: 0.1,
        trace: { trace_id: ids?.slow.traceId, span_id: ids?.slow.spanId },
      });
      expect(byRule?.value).toBeCloseTo(0.5, 3);
      const own = alerts.find((a) => a.labels.operation === 'render invoice');
      expect(own).toMatchObject({ threshold: 0.05, trace: { trace_id: ids?.ownTarget.traceId } });
      // The fast run of the route was within its target: no alert carries its trace.
      expect(alerts.some((a) => a.trace?.trace_id === ids?.fast.traceId)).toBe(false);
    },
  );

  it.each(PROTOCOLS)(
    'reports the service exporting with %s in the summary, with its routes and its memory',
    async (protocol) => {
      const service = serviceOf(protocol);
      const report = await waitFor(
        async () => {
          const { status, body } = await getJson<Report>(
            sidecar.url,
            `/api/system/performance?service=${encodeURIComponent(service)}&hours=1`,
          );
          expect(status).toBe(200);
          return body.operations['GET /orders/:id']?.count === 2 && body.system.rss_mb !== null
            ? body
            : undefined;
        },
        { what: `the summary of ${service}`, timeoutMs: 20_000 },
      );
      expect(report.service).toBe(service);
      expect(report.operations['GET /orders/:id']).toMatchObject({ count: 2, breaches: 1, target_s: 0.1 });
      expect(report.operations['render invoice']).toMatchObject({ count: 1, breaches: 1, errors: 1 });
      expect(report.http['GET /orders/:id']).toMatchObject({ count: 2 });
      expect(report.system.rss_mb).toBe(2048);
      const memory = (await redis.lrange(`${prefix}memory_alerts`, 0, -1)).map((r) => JSON.parse(r) as Alert);
      expect(memory.some((a) => a.type === 'high_memory' && a.labels.service === service)).toBe(true);
    },
  );

  it('lists every service seen, the sidecar itself included', async () => {
    const { body } = await getJson<Report>(sidecar.url, '/api/system/performance?hours=1');
    expect(body.service).toBe('perf-sidecar');
    for (const protocol of PROTOCOLS) {
      expect(body.services[serviceOf(protocol)]).toMatchObject({
        own: false,
        runs: 3,
        breaches: 2,
        runtime: true,
      });
    }
    expect(body.services['perf-sidecar']).toMatchObject({ own: true });
  });

  it('forwards every received span to the Collector, annotated with its verdict', async () => {
    const slowIds = [...sent.values()].map((s) => s.slow.spanId);
    await waitFor(() => slowIds.every((id) => collector.spans.some((s) => s.spanId === id)) || undefined, {
      what: 'the slow spans at the Collector',
      timeoutMs: 20_000,
    });
    for (const ids of sent.values()) {
      const slow = collector.spans.find((s) => s.spanId === ids.slow.spanId);
      expect(slow?.attributes).toMatchObject({
        'perf.operation': 'GET /orders/:id',
        'perf.target_seconds': 0.1,
        'perf.target_exceeded': true,
        'http.route': '/orders/:id',
      });
      const fast = collector.spans.find((s) => s.spanId === ids.fast.spanId);
      expect(fast?.attributes).toMatchObject({ 'perf.target_exceeded': false });
      const own = collector.spans.find((s) => s.spanId === ids.ownTarget.spanId);
      expect(own?.attributes).toMatchObject({
        'perf.operation': 'render invoice',
        'perf.target_exceeded': true,
      });
    }
    // The Collector authenticates the sidecar, not the services: the ingest token never goes on.
    expect(collector.headers.some((h) => JSON.stringify(h).includes(TOKEN))).toBe(false);
  });

  it('counts what it received and forwarded in /metrics, which promtool accepts', async () => {
    const text = await (await fetch(`${sidecar.url}/metrics`)).text();
    const accepted = /^perf_ingest_spans_total\{[^}]*perf_ingest_outcome="accepted"[^}]*\} (\d+)/m.exec(text);
    expect(Number(accepted?.[1])).toBeGreaterThanOrEqual(9);
    expect(text).toMatch(/^perf_forward_items_total\{[^}]*perf_ingest_outcome="forwarded"[^}]*\} [1-9]/m);
    expect(text).toMatch(/^perf_operation_duration_seconds_count\{[^}]*service_name="plain-checkout-grpc"/m);
    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });

  it('forwards the spans of a perf-sidecar host without judging them a second time', async () => {
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    const span = (name: string, traceId: string) => ({
      traceId,
      spanId: traceId.slice(0, 16),
      name,
      kind: 2,
      startTimeUnixNano: String(nowNs - 1_000_000_000n),
      endTimeUnixNano: String(nowNs),
      attributes: [{ key: 'perf.target_seconds', value: { doubleValue: 0.01 } }],
    });
    const resource = (service: string, distro?: string) => ({
      attributes: [
        { key: 'service.name', value: { stringValue: service } },
        ...(distro ? [{ key: 'telemetry.distro.name', value: { stringValue: distro } }] : []),
      ],
    });
    const hostTrace = 'a1'.repeat(16);
    const plainTrace = 'b2'.repeat(16);
    // One request: a perf-sidecar host's span, then a plain service's. Both breach their target.
    const res = await fetch(`${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: resource('judged-at-home', 'perf-sidecar'),
            scopeSpans: [{ spans: [span('export', hostTrace)] }],
          },
          { resource: resource('judged-here'), scopeSpans: [{ spans: [span('export', plainTrace)] }] },
        ],
      }),
    });
    expect(res.status).toBe(200);
    // The plain service's alert is written after the host's span was passed over (same request,
    // in order): once it is in Redis, an alert for the host would be too.
    await waitFor(
      async () =>
        (await redis.lrange(`${prefix}performance_alerts`, 0, -1))
          .map((r) => JSON.parse(r) as Alert)
          .some((a) => a.labels.service === 'judged-here') || undefined,
      { what: 'the alert of the plain service', timeoutMs: 20_000 },
    );
    const alerts = (await redis.lrange(`${prefix}performance_alerts`, 0, -1)).map(
      (r) => JSON.parse(r) as Alert,
    );
    expect(alerts.some((a) => a.labels.service === 'judged-at-home')).toBe(false);
    const forwarded = await waitFor(() => collector.spans.find((s) => s.traceId === hostTrace), {
      what: 'the host span at the Collector',
    });
    expect(forwarded.attributes['perf.target_exceeded']).toBeUndefined();
  });

  it('refuses a service without the token, and never logs the token', async () => {
    const res = await fetch(`${otlpHttp}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
    expect(sidecar.stdout() + sidecar.stderr()).not.toContain(TOKEN);
  });

  it('reloads the rules on SIGHUP and keeps running', async () => {
    writeFileSync(rulesFile, RULES(0.25));
    sidecar.child.kill('SIGHUP');
    await waitFor(() => sidecar.stdout().includes('target rules reloaded') || undefined, {
      what: 'the reload log line',
    });
    await runService({
      OTEL_SERVICE_NAME: 'plain-checkout-reloaded',
      OTEL_EXPORTER_OTLP_ENDPOINT: otlpHttp,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer%20${TOKEN}`,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
    });
    const alert = await waitFor(
      async () =>
        (await redis.lrange(`${prefix}performance_alerts`, 0, -1))
          .map((r) => JSON.parse(r) as Alert)
          .find(
            (a) => a.labels.service === 'plain-checkout-reloaded' && a.labels.operation === 'GET /orders/:id',
          ),
      { what: 'the alert under the reloaded rule', timeoutMs: 20_000 },
    );
    expect(alert.threshold).toBe(0.25);
    expect(sidecar.child.exitCode).toBe(null);
  });
});
