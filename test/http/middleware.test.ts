/** performanceMiddleware in process: options, correlation ids, slow_request alerts, 404 routes. */
import { Hono } from 'hono';
import { afterEach, describe, expect, it } from 'vitest';
import { addPerformanceMiddleware, performanceMiddleware, startSidecar } from '../../src/http/index.ts';
import { correlationIdFrom } from '../../src/http/middleware/correlation.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { activeCorrelationId, getTelemetry, trackOperation } from '../../src/telemetry/index.ts';
import { startConnectedTelemetry, startTestTelemetry, type TestTelemetry } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

describe('performanceMiddleware options', () => {
  it.each([
    [{ slowRequestThreshold: 0 }, 'options.slowRequestThreshold'],
    [{ slowRequestThreshold: Number.NaN }, 'options.slowRequestThreshold'],
    [{ memoryAlertThreshold: -1 }, 'options.memoryAlertThreshold'],
    [{ cpuAlertThreshold: '80' }, 'options.cpuAlertThreshold'],
  ])('rejects %j naming %s', async (options, named) => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    expect(() => performanceMiddleware(options as never)).toThrow(InvalidArgumentError);
    expect(() => performanceMiddleware(options as never)).toThrow(
      new RegExp(`^${named.replace('.', '\\.')}: .*expected a (number|percentage) .*greater than 0`),
    );
  });

  it('starts the resource sampler unless told not to', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    performanceMiddleware({ enableResourceMonitoring: false });
    expect(t.telemetry.resources.running).toBe(false);
    performanceMiddleware();
    expect(t.telemetry.resources.running).toBe(true);
  });
});

describe('correlationIdFrom', () => {
  it('keeps well-formed ids and replaces anything else with a UUID', () => {
    expect(correlationIdFrom('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    for (const bad of [undefined, '', 'a b', 'x'.repeat(129), 'line\nbreak', 'quote"d']) {
      expect(correlationIdFrom(bad)).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

describe('slow requests through addPerformanceMiddleware', () => {
  it('alerts with the route template, method and status, and skips fast requests', async () => {
    t = await startConnectedTelemetry();
    const app = addPerformanceMiddleware(new Hono(), {
      slowRequestThreshold: 0.05,
      enableResourceMonitoring: false,
    });
    app.get('/items/:id', async (c) => {
      if (c.req.query('slow')) await new Promise((r) => setTimeout(r, 80));
      return c.text('ok', c.req.query('fail') ? 503 : 200);
    });
    expect((await app.request('/items/1')).status).toBe(200);
    const res = await app.request('/items/9?slow=1&fail=1', { headers: { 'x-correlation-id': 'mw-1' } });
    expect(res.status).toBe(503);
    expect(res.headers.get('x-correlation-id')).toBe('mw-1');
    const records = await waitFor(async () => {
      const list = await t?.list(t.performanceList);
      return list && list.length > 0 ? list : undefined;
    });
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      type: 'slow_request',
      labels: { route: '/items/:id', method: 'GET' },
      annotations: { status: '503' },
      correlation_id: 'mw-1',
    });
  });

  it('gives operations tracked by the handler the request correlation id', async () => {
    t = await startConnectedTelemetry();
    const app = addPerformanceMiddleware(new Hono(), { enableResourceMonitoring: false });
    app.get('/op', (c) =>
      c.json(
        trackOperation('handler_op', { targetSeconds: 0.000001, measureResources: false }, () =>
          activeCorrelationId(),
        ),
      ),
    );
    const res = await app.request('/op', { headers: { 'x-correlation-id': 'inherit-7' } });
    expect(await res.json()).toBe('inherit-7');
    const records = await waitFor(async () => {
      const list = await t?.list(t.performanceList);
      return list && list.length > 0 ? list : undefined;
    });
    expect(records[0]).toMatchObject({ type: 'target_exceeded', correlation_id: 'inherit-7' });
    expect(activeCorrelationId()).toBeUndefined();
  });

  it('adds the correlation header to responses whose headers are immutable (redirects)', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const app = addPerformanceMiddleware(new Hono(), { enableResourceMonitoring: false });
    app.get('/moved', () => Response.redirect('http://127.0.0.1/elsewhere', 302));
    const res = await app.request('/moved', { headers: { 'x-correlation-id': 'redir-1' } });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toBe('http://127.0.0.1/elsewhere');
    expect(res.headers.get('x-correlation-id')).toBe('redir-1');
  });

  it('reports unmatched paths without their raw path', async () => {
    t = await startConnectedTelemetry();
    const app = addPerformanceMiddleware(new Hono(), {
      slowRequestThreshold: 0.0001,
      enableResourceMonitoring: false,
    });
    expect((await app.request('/secret/path/123')).status).toBe(404);
    const records = await waitFor(async () => {
      const list = await t?.list(t.performanceList);
      return list && list.length > 0 ? list : undefined;
    });
    expect(records[0]).toMatchObject({ labels: { route: '(no route)' } });
    expect(JSON.stringify(records)).not.toContain('/secret/path');
  });
});

describe('startSidecar options', () => {
  it('are refused before anything starts, naming the option and its accepted form', async () => {
    await expect(startSidecar({ port: -1 })).rejects.toThrow(
      'options.port: is -1; expected an integer from 0 to 65535',
    );
    await expect(startSidecar({ host: 'a host' })).rejects.toThrow(
      /^options\.host: is "a host"; expected a host name/,
    );
    await expect(startSidecar({ rotues: () => undefined } as never)).rejects.toThrow(
      /^options\.rotues: is not an option of startSidecar; expected one of dashboard, database, host, ingest, middleware, port, routes$/,
    );
    expect(() => getTelemetry()).toThrow(/not started/);
  });
});
