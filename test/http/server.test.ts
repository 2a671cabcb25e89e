import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_REDIS_URL, withPassword } from '../helpers/env.ts';
import { promtoolCheckMetrics } from '../helpers/prometheus.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import { getJson, type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'test-token-0123456789abcdef';

interface Health {
  status: string;
  checks: Record<
    string,
    { status: string; observedValue: number | null; observedUnit: string; time: string }[]
  >;
}

describe('sidecar server (npm start) with Redis', () => {
  const prefix = `test:${randomUUID()}:`;
  let sidecar: SidecarProcess;
  const redis = new Redis(TEST_REDIS_URL);

  beforeAll(async () => {
    sidecar = await startSidecarProcess(
      { server: true },
      { REDIS_URL: withPassword(TEST_REDIS_URL, 'hunter2-secret'), ALERT_KEY_PREFIX: prefix },
    );
  });
  afterAll(async () => {
    await sidecar?.stop();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('prints one start-up line naming every endpoint, and never the Redis password', () => {
    const line = sidecar
      .stdout()
      .split('\n')
      .find((l) => l.includes('perf-sidecar listening'));
    expect(line).toBeDefined();
    for (const path of [
      '/api/system/performance',
      '/api/system/performance/health',
      '/api/system/alerts',
      '/metrics',
      '/livez',
      '/readyz',
    ]) {
      expect(line).toContain(`${sidecar.url}${path}`);
    }
    expect(sidecar.stdout() + sidecar.stderr()).not.toContain('hunter2-secret');
  });

  it('serves the performance report with its documented shape', async () => {
    // Right after start the Redis connection may still be opening: the report then falls back to
    // memory and says so in its warnings, which is right but not the shape looked at here.
    const { status, body } = await waitFor(
      async () => {
        const got = await getJson<Record<string, unknown>>(sidecar.url, '/api/system/performance?hours=2');
        return (got.body.window as { source?: string } | undefined)?.source === 'redis' ? got : undefined;
      },
      { what: 'a report read from Redis' },
    );
    expect(status).toBe(200);
    expect(Object.keys(body).sort()).toEqual([
      'alerts',
      'filter',
      'http',
      'operations',
      'service',
      'services',
      'system',
      'warnings',
      'window',
    ]);
    expect(body.window).toMatchObject({ hours: 2, source: 'redis' });
    expect(body.service).toBe('perf-sidecar');
    expect(body.filter).toEqual({ operation: null, user_id: null, service: null });
    expect(body.services).toMatchObject({ 'perf-sidecar': { own: true, runtime: true } });
    const window = body.window as { from: string; to: string };
    expect(Date.parse(window.to) - Date.parse(window.from)).toBeLessThanOrEqual(2 * 3600_000);
    expect(body.system).toMatchObject({ rss_mb: expect.any(Number), heap_mb: expect.any(Number) });
  });

  it('serves health as application/health+json with every check', async () => {
    const res = await fetch(`${sidecar.url}/api/system/performance/health`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/health+json');
    const body = (await res.json()) as Health;
    expect(body.status).not.toBe('fail');
    expect(Object.keys(body.checks).sort()).toEqual([
      'alerts:buffered',
      'alerts:dropped',
      'cpu:utilization',
      'eventloop:delay',
      'ingest:droppedPoints',
      'ingest:queue',
      'ingest:refused',
      'ingest:rejected',
      'ingest:spans',
      'memory:rss',
      'redis:responseTime',
    ]);
    expect(body.checks['redis:responseTime']?.[0]).toMatchObject({ status: 'pass', observedUnit: 'ms' });
    expect(body.checks['ingest:queue']?.[0]).toMatchObject({ status: 'pass', observedUnit: '{span}' });
    expect(JSON.stringify(body)).not.toContain('hunter2-secret');
  });

  it('lists no alerts when none were raised (count 0, not an error)', async () => {
    const { status, body } = await getJson<{ count: number; alerts: unknown[]; skipped: unknown }>(
      sidecar.url,
      '/api/system/alerts?limit=5',
    );
    expect(status).toBe(200);
    expect(body).toMatchObject({ count: 0, alerts: [], skipped: { invalid: 0, oversized: 0 } });
  });

  it.each([
    ['POST', '/livez'],
    ['DELETE', '/readyz'],
    ['PUT', '/api/system/alerts'],
    ['POST', '/api/system/performance/health'],
  ])('answers 405 with Allow for %s on the GET-only %s', async (method, path) => {
    const res = await fetch(`${sidecar.url}${path}`, { method });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD');
    expect(await res.json()).toMatchObject({
      error: 'method_not_allowed',
      detail: expect.stringContaining(`${method} is not allowed on ${path}; allowed: GET, HEAD`),
    });
  });

  it.each([
    ['/api/system/performance?hours=abc', 'hours'],
    ['/api/system/performance?hours=0', 'hours'],
    ['/api/system/performance?hours=100000', 'hours'],
    ['/api/system/performance?hours=1.5', 'hours'],
    [`/api/system/performance?operation=${'x'.repeat(10_240)}`.slice(0, 60), 'operation'],
    ['/api/system/performance?user_id=', 'user_id'],
    ['/api/system/performance?bogus=1', 'bogus'],
    ['/api/system/performance?hours=1&hours=2', 'hours'],
    ['/api/system/alerts?limit=-1', 'limit'],
    ['/api/system/alerts?limit=0', 'limit'],
    ['/api/system/alerts?type=nuclear', 'type'],
  ])('answers 400 JSON naming the problem (%#: %s)', async (path, named) => {
    // The 10 kB operation name is cut in the test table (to keep the test title short); restore it.
    const full = path.endsWith('xxx') ? `${path}${'x'.repeat(10_240)}` : path;
    const { status, headers, body } = await getJson<{ error: string; detail: string }>(sidecar.url, full);
    expect(status).toBe(400);
    expect(headers.get('content-type')).toContain('application/json');
    expect(body.error).toBe('invalid_query');
    expect(body.detail).toContain(named);
    expect(body.detail).toMatch(/expected|accepted|once/);
    expect(body.detail.length).toBeLessThan(400);
  });

  it('answers 404 JSON for unknown routes', async () => {
    const { status, body } = await getJson<{ error: string }>(sidecar.url, '/api/system/nothing');
    expect(status).toBe(404);
    expect(body.error).toBe('not_found');
  });

  it('serves /metrics that passes promtool check metrics', async () => {
    // Some traffic first, so histograms and counters have series.
    await fetch(`${sidecar.url}/livez`);
    await fetch(`${sidecar.url}/api/system/performance`);
    // The resource gauges appear once the sampler has taken its first (one-second) sample.
    const res = await waitFor(
      async () => {
        const r = await fetch(`${sidecar.url}/metrics`);
        const body = await r.text();
        return body.includes('perf_system_memory_rss_bytes') ? { r, body } : undefined;
      },
      { what: 'the resource gauges on /metrics' },
    );
    expect(res.r.status).toBe(200);
    expect(res.r.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = res.body;
    expect(text).toContain('http_server_request_duration_seconds_bucket');
    expect(text).toContain('perf_system_memory_rss_bytes');
    const check = await promtoolCheckMetrics(text);
    expect(check.output).toBe('');
    expect(check.code).toBe(0);
  });

  it('promtool rejects a broken exposition (the check above can fail)', async () => {
    const check = await promtoolCheckMetrics('# TYPE x counter\nx{a="1"} not-a-number\n');
    expect(check.code).not.toBe(0);
  });
});

describe('sidecar server (npm start) with PERF_API_TOKEN', () => {
  let sidecar: SidecarProcess;
  beforeAll(async () => {
    sidecar = await startSidecarProcess({ server: true }, { PERF_API_TOKEN: TOKEN });
  });
  afterAll(async () => {
    await sidecar?.stop();
  });

  it.each(['/api/system/performance', '/api/system/performance/health', '/api/system/alerts', '/metrics'])(
    'requires the bearer token on %s',
    async (path) => {
      for (const headers of [
        {},
        { authorization: 'Bearer wrong-token-0123456789' },
        { authorization: TOKEN },
        { authorization: 'Basic abc' },
      ]) {
        const { status, body } = await getJson<{ error: string }>(
          sidecar.url,
          path,
          headers as Record<string, string>,
        );
        expect(status).toBe(401);
        expect(body.error).toBe('unauthorized');
      }
      const ok = await fetch(`${sidecar.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(ok.status).toBe(200);
    },
  );

  it('challenges with a named realm', async () => {
    const res = await fetch(`${sidecar.url}/metrics`);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="perf-sidecar"');
    const wrong = await fetch(`${sidecar.url}/metrics`, {
      headers: { authorization: 'Bearer wrong-token-0123456789' },
    });
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="perf-sidecar", error="invalid_token"');
  });

  it('leaves /livez and /readyz open', async () => {
    expect((await fetch(`${sidecar.url}/livez`)).status).toBe(200);
    expect((await fetch(`${sidecar.url}/readyz`)).status).toBe(200);
  });

  it('never logs the token', async () => {
    await fetch(`${sidecar.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(sidecar.stdout() + sidecar.stderr()).not.toContain(TOKEN);
  });
});

describe('sidecar server (npm start) without a token or any service', () => {
  it('serves every endpoint in memory-only mode and says so once at start-up', async () => {
    const sidecar = await startSidecarProcess({ server: true }, {});
    try {
      expect(sidecar.stdout().match(/memory-only mode/g)).toHaveLength(1);
      for (const path of [
        '/livez',
        '/readyz',
        '/api/system/performance',
        '/api/system/performance/health',
        '/api/system/alerts',
        '/metrics',
      ]) {
        expect((await fetch(`${sidecar.url}${path}`)).status, path).toBe(200);
      }
      const { body } = await getJson<Health & { window?: unknown }>(
        sidecar.url,
        '/api/system/performance/health',
      );
      expect(body.checks['redis:responseTime']).toBeUndefined();
      const report = await getJson<{ window: { source: string } }>(sidecar.url, '/api/system/performance');
      expect(report.body.window.source).toBe('memory');
    } finally {
      expect(await sidecar.stop()).toBe(0);
    }
  });
});

describe('health when Redis goes away and comes back', () => {
  let own: OwnRedis;
  let sidecar: SidecarProcess;
  beforeAll(async () => {
    own = await OwnRedis.start();
    sidecar = await startSidecarProcess(
      { server: true },
      { REDIS_URL: own.url, REDIS_COMMAND_TIMEOUT_MS: '200' },
    );
  });
  afterAll(async () => {
    await sidecar?.stop();
    await own?.dispose();
  });

  it('degrades to warn (200, readyz 200: requests are still served) and recovers to pass', async () => {
    await waitFor(
      async () =>
        (await getJson<Health>(sidecar.url, '/api/system/performance/health')).body.status === 'pass',
      {
        what: 'health pass with Redis up',
      },
    );
    await own.stop();
    const degraded = await waitFor(
      async () => {
        const res = await getJson<Health>(sidecar.url, '/api/system/performance/health');
        return res.body.checks['redis:responseTime']?.[0]?.observedValue === null ? res : undefined;
      },
      { what: 'the Redis check failing with Redis down', timeoutMs: 15_000 },
    );
    expect(degraded.status).toBe(200);
    expect(degraded.body.status).toBe('warn');
    expect(degraded.body.checks['redis:responseTime']?.[0]).toMatchObject({
      status: 'warn',
      observedValue: null,
    });
    const ready = await fetch(`${sidecar.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'warn' });
    expect((await fetch(`${sidecar.url}/livez`)).status).toBe(200);
    // What readiness promises: requests are served while Redis is away.
    expect((await fetch(`${sidecar.url}/api/system/performance`)).status).toBe(200);

    await own.start();
    await waitFor(
      async () => {
        const res = await getJson<Health>(sidecar.url, '/api/system/performance/health');
        return res.status === 200 && res.body.checks['redis:responseTime']?.[0]?.status === 'pass';
      },
      { what: 'health back to pass after Redis returned', timeoutMs: 20_000 },
    );
    expect((await fetch(`${sidecar.url}/readyz`)).status).toBe(200);
  });
});
