/**
 * The sidecar the demo serves in its own process, so that its `/metrics` shows the demo's work.
 * One small function, so the server's `startSidecar()` can replace the body without touching the
 * runner.
 */
import { type ServerType, serve } from '@hono/node-server';
import { createApp } from '../src/http/index.ts';
import type { Telemetry } from '../src/index.ts';

/** A running in-process sidecar. */
export interface DemoSidecar {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  /** Stops accepting, finishes in-flight requests. */
  close(): Promise<void>;
}

/** Serves the sidecar's HTTP app on `host:port` (port 0: a free one). */
export function startDemoSidecar(options: {
  readonly telemetry: Telemetry;
  readonly host: string;
  readonly port: number;
}): Promise<DemoSidecar> {
  const app = createApp({ telemetry: options.telemetry });
  return new Promise((resolve, reject) => {
    const server: ServerType = serve(
      { fetch: app.fetch, hostname: options.host, port: options.port },
      (info) => {
        server.off('error', reject);
        const host = info.family === 'IPv6' ? `[${info.address}]` : info.address;
        resolve({
          url: `http://${host}:${info.port}`,
          close: () => new Promise<void>((done) => server.close(() => done())),
        });
      },
    );
    server.once('error', reject);
  });
}
