/**
 * Unhandled errors in routes under the performance middleware, in child processes started as users
 * start them: a JSON 500 carrying the correlation id and trace id, one pino line with the stack, and
 * no bare stack trace on stdout or stderr. Covers startSidecar routes and a host's own Hono app.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson, type SidecarProcess, startSidecarProcess } from '../helpers/sidecar.ts';
import { waitFor } from '../helpers/wait.ts';

interface ErrorBody {
  error: string;
  detail: string;
  correlation_id: string;
  trace_id: string;
}

interface LogLine {
  level: number;
  msg: string;
  correlation_id?: string;
  trace_id?: string;
  route?: string;
  status?: number;
  err?: { message?: string; stack?: string; type?: string };
}

function logLines(app: SidecarProcess): LogLine[] {
  return app
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** A stack frame printed on its own line, as console.error(err) prints it. */
const BARE_STACK_FRAME = /^\s+at .+/m;

async function expectJson500(app: SidecarProcess, path: string, correlationId: string, message: string) {
  const { status, headers, body } = await getJson<ErrorBody>(app.url, path, {
    'x-correlation-id': correlationId,
  });
  expect(status).toBe(500);
  expect(headers.get('content-type')).toContain('application/json');
  expect(headers.get('x-correlation-id')).toBe(correlationId);
  expect(body).toMatchObject({ error: 'internal_error', correlation_id: correlationId });
  expect(body.trace_id).toMatch(/^[0-9a-f]{32}$/);
  expect(JSON.stringify(body)).not.toContain(message);
  // Logged once, through pino, with the stack and the same ids.
  const failures = await waitFor(
    () => {
      const lines = logLines(app).filter(
        (l) => l.msg === 'request failed' && l.correlation_id === correlationId,
      );
      return lines.length > 0 ? lines : undefined;
    },
    { what: 'the request failed log line' },
  );
  expect(failures).toHaveLength(1);
  const line = failures[0] as LogLine;
  expect(line.level).toBe(50);
  expect(line.trace_id).toBe(body.trace_id);
  expect(line.err?.message).toBe(message);
  expect(line.err?.stack).toContain(message);
  expect(line.err?.stack).toMatch(/\n\s+at /);
  return body;
}

describe('unhandled errors in startSidecar routes', () => {
  let app: SidecarProcess;
  beforeAll(async () => {
    app = await startSidecarProcess({ fixture: 'host-app.mjs' }, {});
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('answer a JSON 500 with the ids, logged once with the stack, no bare stack printed', async () => {
    await expectJson500(app, '/boom', 'boom-1', 'kaboom in a host route');
    expect(app.stdout()).not.toMatch(BARE_STACK_FRAME);
    expect(app.stderr()).not.toMatch(BARE_STACK_FRAME);
    expect(app.stderr()).not.toContain('kaboom');
    // The request line is still written, with status 500.
    const request = await waitFor(
      () => logLines(app).find((l) => l.msg === 'request' && l.correlation_id === 'boom-1'),
      { what: 'the request log line' },
    );
    expect(request).toMatchObject({ route: '/boom', status: 500 });
  });
});

describe.each([
  ['add', 'addPerformanceMiddleware(app)'],
  ['use', 'app.use(performanceMiddleware()) + app.onError(performanceErrorHandler())'],
])('unhandled errors in a host Hono app (%s: %s)', (mode) => {
  let app: SidecarProcess;
  beforeAll(async () => {
    app = await startSidecarProcess({ fixture: 'hono-host-app.mjs' }, { HOST_MODE: mode });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('answer a JSON 500 with the ids, logged once with the stack, no bare stack printed', async () => {
    expect((await fetch(`${app.url}/ok`)).status).toBe(200);
    await expectJson500(app, '/boom', `${mode}-sync`, 'kaboom in a host handler');
    await expectJson500(app, '/boom-async', `${mode}-async`, 'async kaboom in a host handler');
    expect(app.stdout()).not.toMatch(BARE_STACK_FRAME);
    expect(app.stderr()).not.toMatch(BARE_STACK_FRAME);
    expect(app.stderr()).not.toContain('kaboom');
  });
});

describe('unhandled errors in a host Hono app with only app.use(performanceMiddleware())', () => {
  let app: SidecarProcess;
  beforeAll(async () => {
    app = await startSidecarProcess({ fixture: 'hono-host-app.mjs' }, { HOST_MODE: 'bare' });
  });
  afterAll(async () => {
    await app?.stop();
  });

  it('still answer a JSON 500 with the ids, logged once through pino', async () => {
    await expectJson500(app, '/boom', 'bare-sync', 'kaboom in a host handler');
    expect(app.stdout()).not.toMatch(BARE_STACK_FRAME);
  });
});
