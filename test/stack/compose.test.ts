/**
 * docker-compose.yml, proven without a Docker engine: dclint (pinned devDependency) validates it
 * against the Compose Specification's JSON schema it bundles and lints it (zero warnings allowed),
 * and the wiring between the compose file, the collector, Prometheus, Grafana and the Dockerfile is
 * checked name by name and port by port.
 */
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers/child.ts';
import { run } from '../helpers/prometheus.ts';

const DCLINT = join(ROOT, 'node_modules/.bin/dclint');

interface DclintReport {
  filePath: string;
  messages: { rule: string; type: string; message: string; line: number }[];
  errorCount: number;
  warningCount: number;
}

async function dclint(file: string): Promise<{ code: number | null; reports: DclintReport[] }> {
  const result = await run(process.execPath, [DCLINT, file, '-f', 'json', '--max-warnings', '0']);
  return { code: result.code, reports: JSON.parse(result.stdout || '[]') as DclintReport[] };
}

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const collector = parse(readFileSync(join(ROOT, 'otel-collector.yaml'), 'utf8')) as {
  receivers: { otlp: { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } } };
  exporters: Record<string, { endpoint: string }>;
  extensions: { health_check: { endpoint: string } };
  service: {
    extensions: string[];
    pipelines: Record<string, { receivers: string[]; processors: string[]; exporters: string[] }>;
  };
};
const prometheus = parse(readFileSync(join(ROOT, 'prometheus.yml'), 'utf8')) as {
  scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
};
const datasources = parse(
  readFileSync(join(ROOT, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8'),
) as { datasources: { uid: string; type: string; url: string }[] };

/** The container port a service publishes or listens on, from "host:port:container". */
function containerPorts(service: Service): number[] {
  return (service.ports ?? []).map((p) => Number(p.split(':').at(-1)));
}

describe('docker-compose.yml against the compose schema (dclint)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'perf-sidecar-compose-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes with no error and no warning', async () => {
    const { code, reports } = await dclint(join(ROOT, 'docker-compose.yml'));
    expect(reports.flatMap((r) => r.messages)).toEqual([]);
    expect(code).toBe(0);
  });

  it('fails on a file the schema rejects (an unknown service key)', async () => {
    const bad = join(dir, 'docker-compose.yml');
    writeFileSync(
      bad,
      readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').replace(
        '\n  redis:\n',
        '\n  redis:\n    portz: ["1:1"]\n',
      ),
    );
    const { code, reports } = await dclint(bad);
    expect(code).not.toBe(0);
    expect(reports[0]?.messages.map((m) => m.rule)).toContain('invalid-schema');
  });

  it('fails on an image without a pinned version', async () => {
    const copy = join(dir, 'latest.yml');
    copyFileSync(join(ROOT, 'docker-compose.yml'), copy);
    writeFileSync(copy, readFileSync(copy, 'utf8').replace(/image: redis:[^\n]+/, 'image: redis:latest'));
    const { code } = await dclint(copy);
    expect(code).not.toBe(0);
  });
});

describe('the stack wiring', () => {
  const s = compose.services;

  it('runs every service of the issue', () => {
    expect(Object.keys(s).sort()).toEqual(
      ['demo', 'grafana', 'jaeger', 'otel-collector', 'postgres', 'prometheus', 'redis', 'sidecar'].sort(),
    );
  });

  it('pins every image to an exact version and builds the sidecar and the demo from the Dockerfile', () => {
    for (const [name, service] of Object.entries(s)) {
      if (name === 'sidecar' || name === 'demo') {
        expect(service.build).toEqual({ context: '.', dockerfile: 'Dockerfile' });
        continue;
      }
      expect(service.image, name).toMatch(/^[\w./-]+:v?\d+\.\d+(\.\d+)?(-[\w.]+)?$/);
    }
  });

  it('gives every service a health check, except the collector whose image has no shell (the Dockerfile has one for the sidecar and demo)', () => {
    for (const [name, service] of Object.entries(s)) {
      if (name === 'sidecar' || name === 'demo' || name === 'otel-collector') continue;
      expect(service.healthcheck?.test?.length, name).toBeGreaterThan(0);
    }
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\n\s+CMD .*\/livez/m);
    expect(dockerfile).toMatch(/^USER node$/m);
    expect(dockerfile).toMatch(
      /^FROM node:24[\d.]*-\w+-slim AS build$|^ARG NODE_IMAGE=node:24\.\d+\.\d+-\w+-slim$/m,
    );
    expect(dockerfile.match(/^FROM /gm)?.length).toBeGreaterThanOrEqual(3);
  });

  it('keeps state in named volumes that are declared', () => {
    const named = Object.values(s)
      .flatMap((service) => service.volumes ?? [])
      .map((v) => v.split(':')[0] ?? '')
      .filter((source) => !source.startsWith('.'));
    expect(named.sort()).toEqual(Object.keys(compose.volumes).sort());
  });

  it('wires the demo to the sidecar, the sidecar to the collector, both to Redis and PostgreSQL, listening on 0.0.0.0', () => {
    const otlpHttpPort = Number(collector.receivers.otlp.protocols.http.endpoint.split(':')[1]);
    const pg = s.postgres?.environment ?? {};
    const sidecarEnv = s.sidecar?.environment ?? {};
    // The demo exports to the sidecar's receiver, as any watched service would; the sidecar
    // forwards what it receives, and sends its own spans, to the collector.
    expect(s.demo?.environment?.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(
      `http://sidecar:${sidecarEnv.OTLP_HTTP_PORT}`,
    );
    expect(s.demo?.depends_on?.sidecar?.condition).toBe('service_healthy');
    expect(sidecarEnv.OTEL_EXPORTER_OTLP_ENDPOINT).toBe(`http://otel-collector:${otlpHttpPort}`);
    expect(sidecarEnv.OTLP_FORWARD_ENDPOINT).toBe(`http://otel-collector:${otlpHttpPort}`);
    expect(containerPorts(s.sidecar ?? {})).toEqual([
      Number(sidecarEnv.OTLP_GRPC_PORT),
      Number(sidecarEnv.OTLP_HTTP_PORT),
      Number(sidecarEnv.PORT),
    ]);
    expect(containerPorts(s.demo ?? {})).toEqual([Number(s.demo?.environment?.PORT)]);
    for (const name of ['sidecar', 'demo']) {
      const env = s[name]?.environment ?? {};
      expect(env.HOST, name).toBe('0.0.0.0');
      expect(env.OTEL_EXPORTER_OTLP_PROTOCOL, name).toBe('http/protobuf');
      expect(env.REDIS_URL, name).toBe('redis://redis:6379');
      expect(env.DATABASE_URL, name).toBe(
        `postgresql://${pg.POSTGRES_USER}:${pg.POSTGRES_PASSWORD}@postgres:5432/${pg.POSTGRES_DB}`,
      );
      expect(s[name]?.depends_on?.redis?.condition).toBe('service_healthy');
      expect(s[name]?.depends_on?.postgres?.condition).toBe('service_healthy');
    }
    expect(s.demo?.command?.slice(0, 4)).toEqual(['node', '--import', './demo/register.ts', './demo/run.ts']);
  });

  it('has the collector receive OTLP on 4317/4318 and send traces to Jaeger over OTLP gRPC', () => {
    expect(collector.receivers.otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(collector.receivers.otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    // Inside the network only: services on the host export to the sidecar's 4317/4318.
    expect(containerPorts(s['otel-collector'] ?? {})).toEqual([13133]);
    expect(collector.extensions.health_check.endpoint).toBe('0.0.0.0:13133');
    expect(collector.service.extensions).toContain('health_check');
    const traces = collector.service.pipelines.traces;
    expect(traces?.processors).toEqual(['memory_limiter', 'batch']);
    const [exporter] = traces?.exporters ?? [];
    expect(exporter).toMatch(/^otlp_grpc(\/|$)/);
    expect(collector.exporters[exporter ?? '']?.endpoint).toBe('jaeger:4317');
    expect(collector.service.pipelines.metrics?.processors).toEqual(['memory_limiter', 'batch']);
    expect(s['otel-collector']?.volumes).toContain(
      './otel-collector.yaml:/etc/otelcol-contrib/config.yaml:ro',
    );
  });

  it('has Prometheus scrape every perf-sidecar process the compose file starts', () => {
    const job = prometheus.scrape_configs.find((c) => c.job_name === 'perf-sidecar');
    const targets = job?.static_configs.flatMap((c) => c.targets) ?? [];
    expect(targets.sort()).toEqual(
      ['sidecar', 'demo'].map((name) => `${name}:${s[name]?.environment?.PORT}`).sort(),
    );
    const mounted = s.prometheus?.volumes ?? [];
    expect(mounted).toContain('./prometheus.yml:/etc/prometheus/prometheus.yml:ro');
    expect(mounted).toContain('./prometheus-rules.yml:/etc/prometheus/prometheus-rules.yml:ro');
    expect(mounted).toContain('./prometheus-slo-rules.yml:/etc/prometheus/prometheus-slo-rules.yml:ro');
  });

  it('points the Grafana data sources at the compose services', () => {
    const byType = Object.fromEntries(datasources.datasources.map((d) => [d.type, d]));
    expect(byType.prometheus?.url).toBe(`http://prometheus:${containerPorts(s.prometheus ?? {})[0]}`);
    expect(byType.jaeger?.url).toBe(`http://jaeger:${containerPorts(s.jaeger ?? {})[0]}`);
  });
});
