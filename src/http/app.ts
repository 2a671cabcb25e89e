/**
 * The sidecar's HTTP app. This first version serves liveness and metrics; the performance summary,
 * health and alert endpoints come with the server issue.
 */
import { Hono } from 'hono';
import { PROMETHEUS_CONTENT_TYPE, type Telemetry } from '../telemetry/index.ts';

/** Options of {@link createApp}. */
export interface AppOptions {
  /** The running telemetry whose metrics `/metrics` serves. */
  readonly telemetry: Telemetry;
}

/**
 * Builds the sidecar's Hono app: `GET /livez` (process only, no I/O) and `GET /metrics`
 * (Prometheus text). Unknown routes answer 404 JSON `{ error, detail }`; failures answer 500 JSON
 * without a stack trace.
 */
export function createApp(options: AppOptions): Hono {
  const app = new Hono();
  app.get('/livez', (c) => c.json({ status: 'pass' }));
  app.get('/metrics', async (c) => {
    const text = await options.telemetry.renderPrometheus();
    return c.body(text, 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
  });
  app.notFound((c) =>
    c.json(
      { error: 'not_found', detail: `no route for ${c.req.method} ${new URL(c.req.url).pathname}` },
      404,
    ),
  );
  app.onError((_error, c) =>
    c.json({ error: 'internal_error', detail: 'the request failed; see the sidecar log' }, 500),
  );
  return app;
}
