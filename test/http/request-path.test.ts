/**
 * The performance middleware's request path in process: the request log line (slow and failed
 * requests at info, the others at debug), the per-route facts kept bounded, and the server span
 * the middleware makes itself with `serverSpans: 'middleware'` (built from the `Request` here; the
 * Node path is proven against instrumentation-http in server-spans.test.ts).
 */
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { RPCType, setRPCMetadata } from '@opentelemetry/core';
import { Hono } from 'hono';
import { type DestinationStream, pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { addPerformanceMiddleware, performanceMiddleware } from '../../src/http/index.ts';
import { MAX_CACHED_ROUTES, RouteCache } from '../../src/http/middleware/routes.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { getLogger, setLogger } from '../../src/shared/logger.ts';
import { startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
const previousLogger = getLogger();
afterEach(async () => {
  setLogger(previousLogger);
  await t?.cleanup();
  t = undefined;
});

interface Line {
  level: number;
  msg: string;
  route?: string | null;
  status?: number;
  correlation_id?: string;
}

/** Sends perf-sidecar's log lines at `level` and above into an array. */
function captureLogs(level: 'info' | 'debug'): Line[] {
  const lines: Line[] = [];
  const destination: DestinationStream = { write: (text: string) => lines.push(JSON.parse(text) as Line) };
  setLogger(pino({ level }, destination));
  return lines;
}

function requestLines(lines: readonly Line[]): Line[] {
  return lines.filter((l) => l.msg === 'request');
}

const INFO = 30;
const DEBUG = 20;

function appWith(options: Parameters<typeof addPerformanceMiddleware>[1]): Hono {
  const app = addPerformanceMiddleware(new Hono(), { enableResourceMonitoring: false, ...options });
  app.get('/items/:id', (c) => c.text('ok', c.req.query('fail') ? 503 : 200));
  app.get('/throws', () => {
    throw new Error('handler failure');
  });
  return app;
}

describe('the request log line', () => {
  it('is written at info for failed requests (5xx or thrown) only, by default', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const lines = captureLogs('info');
    // No request can take an hour: the ok ones are fast by any measure.
    const app = appWith({ slowRequestThreshold: 3600 });
    await app.request('/items/1', { headers: { 'x-correlation-id': 'ok-1' } });
    await app.request('/items/2?fail=1', { headers: { 'x-correlation-id': 'fail-1' } });
    await app.request('/throws', { headers: { 'x-correlation-id': 'throw-1' } });
    await app.request('/nothing-here', { headers: { 'x-correlation-id': 'missing-1' } });
    expect(requestLines(lines).map((l) => [l.correlation_id, l.level, l.status, l.route])).toEqual([
      ['fail-1', INFO, 503, '/items/:id'],
      ['throw-1', INFO, 500, '/throws'],
    ]);
  });

  it('is written at info for requests over their route target, and for every request at debug', async () => {
    // A target of a microsecond: every request is over it.
    t = await startTestTelemetry({ REDIS_URL: '', PERF_TARGETS: '{"GET /items/:id":0.000001}' });
    const lines = captureLogs('debug');
    const app = appWith({ slowRequestThreshold: 3600 });
    app.get('/other', (c) => c.text('other'));
    await app.request('/items/1', { headers: { 'x-correlation-id': 'target-1' } });
    await app.request('/other', { headers: { 'x-correlation-id': 'other-1' } });
    expect(requestLines(lines).map((l) => [l.correlation_id, l.level, l.route])).toEqual([
      ['target-1', INFO, '/items/:id'],
      ['other-1', DEBUG, '/other'],
    ]);
  });

  it('is written for slow requests over the threshold', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const lines = captureLogs('info');
    const app = appWith({ slowRequestThreshold: 0.000001 });
    await app.request('/items/1', { headers: { 'x-correlation-id': 'slow-1' } });
    expect(requestLines(lines).map((l) => [l.correlation_id, l.level])).toEqual([['slow-1', INFO]]);
  });

  it('is never written with enableDetailedMonitoring: false', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const lines = captureLogs('debug');
    const app = appWith({ slowRequestThreshold: 0.000001, enableDetailedMonitoring: false });
    await app.request('/items/2?fail=1');
    expect(requestLines(lines)).toEqual([]);
  });
});

describe('route facts', () => {
  it('are kept for at most MAX_CACHED_ROUTES routes, and still right past them', async () => {
    const cache = new RouteCache({});
    const app = new Hono();
    const names: string[] = [];
    for (let i = 0; i < MAX_CACHED_ROUTES + 5; i++) {
      app.get(`/r${i}/:id`, (c) => {
        names.push(cache.of(c).name);
        return c.text('ok');
      });
    }
    for (let i = 0; i < MAX_CACHED_ROUTES + 5; i++) await app.request(`/r${i}/7`);
    await app.request('/r0/8');
    expect(cache.size).toBe(MAX_CACHED_ROUTES);
    expect(names.at(-2)).toBe(`GET /r${MAX_CACHED_ROUTES + 4}/:id`);
    expect(names.at(-1)).toBe('GET /r0/:id');
  });
});

describe("the middleware's own server span (serverSpans: 'middleware')", () => {
  it('rejects an unknown serverSpans value, naming the accepted ones', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    expect(() => performanceMiddleware({ serverSpans: 'both' as never })).toThrow(InvalidArgumentError);
    expect(() => performanceMiddleware({ serverSpans: 'both' as never })).toThrow(
      /^options\.serverSpans: .*one of instrumentation, middleware/,
    );
  });

  it('is a SERVER span named after the route, a child of the incoming traceparent, with the metric', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = appWith({ serverSpans: 'middleware' });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const res = await app.request('http://api.example:8080/items/9?x=1', {
      headers: {
        traceparent: `00-${traceId}-b7ad6b7169203331-01`,
        'user-agent': 'unit/1',
        'x-correlation-id': 'own-1',
      },
    });
    expect(res.headers.get('x-correlation-id')).toBe('own-1');
    await app.request('/items/3?fail=1');
    const spans = (await t.finishedSpans()).filter((s) => s.kind === SpanKind.SERVER);
    expect(spans.map((s) => s.name)).toEqual(['GET /items/:id', 'GET /items/:id']);
    const [first, failed] = spans;
    expect(first?.spanContext().traceId).toBe(traceId);
    expect(first?.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(first?.instrumentationScope.name).toBe('perf-sidecar');
    expect(first?.attributes).toEqual({
      'http.request.method': 'GET',
      'url.scheme': 'http',
      'url.path': '/items/9',
      'url.query': 'x=1',
      'server.address': 'api.example',
      'server.port': 8080,
      'user_agent.original': 'unit/1',
      'http.route': '/items/:id',
      'correlation.id': 'own-1',
      'http.response.status_code': 200,
    });
    expect(first?.status.code).toBe(SpanStatusCode.UNSET);
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.attributes['error.type']).toBe('503');
    const metrics = await t.telemetry.renderPrometheus();
    expect(metrics).toMatch(
      /http_server_request_duration_seconds_count\{[^}]*http_route="\/items\/:id"[^}]*http_response_status_code="503"[^}]*\} 1/,
    );
  });

  it('is made once for a request that passes two performance middlewares (a mounted sub-app)', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const sub = addPerformanceMiddleware(new Hono(), {
      enableResourceMonitoring: false,
      serverSpans: 'middleware',
    });
    sub.get('/items/:id', (c) => c.text('ok'));
    const app = addPerformanceMiddleware(new Hono(), {
      enableResourceMonitoring: false,
      serverSpans: 'middleware',
    });
    app.route('/api', sub);
    expect((await app.request('/api/items/7')).status).toBe(200);
    const spans = (await t.finishedSpans()).filter((s) => s.kind === SpanKind.SERVER);
    expect(spans).toHaveLength(1);
    const metrics = await t.telemetry.renderPrometheus();
    expect(metrics).toMatch(/http_server_request_duration_seconds_count\{[^}]*\} 1\n/);
    expect(metrics).not.toMatch(/http_server_request_duration_seconds_count\{[^}]*\} 2\n/);
  });

  it('is not made when instrumentation-http already made one: that one gets the route instead', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = appWith({ serverSpans: 'middleware' });
    const outer = trace.getTracer('test').startSpan('GET', { kind: SpanKind.SERVER });
    const rpc = { type: RPCType.HTTP as const, span: outer };
    await context.with(setRPCMetadata(trace.setSpan(context.active(), outer), rpc), () =>
      app.request('/items/5', { headers: { 'x-correlation-id': 'rpc-1' } }),
    );
    outer.end();
    const spans = await t.finishedSpans();
    // instrumentation-http names its span from the RPC route when the response ends.
    expect(spans).toHaveLength(1);
    expect(rpc).toMatchObject({ route: '/items/:id' });
    expect(spans[0]?.attributes['correlation.id']).toBe('rpc-1');
  });
});
