/**
 * The sidecar the demo serves in its own process, so that its `/metrics` shows the demo's work:
 * the server's `startSidecar()`, reporting on the demo's database service.
 */

import type { Database } from '../src/db/index.ts';
import { startSidecar } from '../src/http/index.ts';

/** A running in-process sidecar. */
export interface DemoSidecar {
  /** Base URL, e.g. `http://127.0.0.1:8000`. */
  readonly url: string;
  /**
   * Stops accepting, finishes in-flight requests, then flushes and shuts down telemetry. The
   * database stays open: the demo owns it.
   */
  close(): Promise<void>;
}

/** Serves the sidecar on `host:port` (port 0: a free one). */
export async function startDemoSidecar(options: {
  readonly host: string;
  readonly port: number;
  readonly database: Database;
}): Promise<DemoSidecar> {
  const sidecar = await startSidecar({ host: options.host, port: options.port, database: options.database });
  return { url: sidecar.url, close: () => sidecar.close() };
}
