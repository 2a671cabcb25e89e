/**
 * Running the sidecar: telemetry, the optional database service, the Hono app on
 * `@hono/node-server`, the resource sampler, and a graceful `close()`. `src/server.ts` (what
 * `npm start` runs) is this plus signal handling; tests and the demo call it directly.
 */
import type { AddressInfo } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import type { Hono } from 'hono';
import { createDatabase, type Database, reportDatabaseAtStart } from '../db/index.ts';
import { errorText } from '../errors.ts';
import { getLogger } from '../logger.ts';
import { shutdownTelemetry, startTelemetry, type Telemetry } from '../telemetry/index.ts';
import { withTimeout } from '../timeout.ts';
import { createApp } from './app.ts';
import type { PerformanceMiddlewareOptions } from './middleware/performance.ts';

/** Options of {@link startSidecar}. Defaults come from the configuration. */
export interface SidecarOptions {
  /** Listen address. Default `HOST` (127.0.0.1). */
  readonly host?: string;
  /** Listen port; 0 picks a free one. Default `PORT` (8000). */
  readonly port?: number;
  /**
   * Database whose health is reported. Default: a service on `DATABASE_URL` when it is set (not
   * verified at start: an unreachable database shows as a failing health check), none otherwise.
   * `false`: none.
   */
  readonly database?: Database | false;
  /** Performance middleware options. */
  readonly middleware?: PerformanceMiddlewareOptions;
  /**
   * Adds the host's own routes before the server accepts traffic (Hono cannot add routes once it
   * has matched a request). They get the performance middleware like the system endpoints.
   */
  readonly routes?: (app: Hono) => void;
}

/** A running sidecar. */
export interface SidecarServer {
  /** Base URL, for example `http://127.0.0.1:8000`. */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** The telemetry it reports on. */
  readonly telemetry: Telemetry;
  /** The Hono app (to add routes before traffic arrives). */
  readonly app: Hono;
  /**
   * Graceful stop: stops accepting, finishes in-flight requests, closes the database service it
   * opened, then flushes spans, metrics, summary rollups and alerts and closes their connections.
   * Each step is bounded; the whole takes at most about `timeoutMs` (default 8000).
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the sidecar (telemetry first, if the preload entry has not already).
 *
 * @throws {ConfigError} on an invalid configuration.
 * @throws {Error} when the address cannot be listened on (`EADDRINUSE`, ...).
 */
export async function startSidecar(options: SidecarOptions = {}): Promise<SidecarServer> {
  const telemetry = startTelemetry();
  const { config } = telemetry;
  const log = getLogger();
  let database: Database | undefined;
  let ownsDatabase = false;
  if (options.database) database = options.database;
  else if (options.database === undefined && config.databaseUrl !== undefined) {
    database = await createDatabase({ url: config.databaseUrl });
    ownsDatabase = true;
    // Not awaited: a database that does not answer must not hold up the server.
    void reportDatabaseAtStart(database);
  }
  const app = createApp({
    telemetry,
    ...(database ? { database } : {}),
    ...(options.middleware ? { middleware: options.middleware } : {}),
  });
  options.routes?.(app);
  const host = options.host ?? config.server.host;
  let server: ServerType;
  try {
    server = await new Promise((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? config.server.port });
      s.once('listening', () => resolve(s));
      s.once('error', reject);
    });
  } catch (error) {
    // Nothing is served: give back the database service opened for it.
    if (ownsDatabase && database) await closeQuietly(database, 2000);
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    telemetry,
    app,
    close(timeoutMs = 8000) {
      closing ??= (async () => {
        // One deadline: requests get 40 % of it, the database 10 %, telemetry the rest minus a
        // second for the Redis QUIT that follows its flushes.
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(deadline - Date.now(), 100);
        // close() stops accepting and resolves once in-flight requests have finished.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            log.warn('in-flight requests did not finish in time; closing their connections');
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }, timeoutMs * 0.4);
          server.close(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        if (ownsDatabase && database) await closeQuietly(database, Math.min(left(), timeoutMs * 0.1));
        await shutdownTelemetry(Math.max(left() - 1000, 100));
      })();
      return closing;
    },
  };
}

async function closeQuietly(database: Database, timeoutMs: number): Promise<void> {
  try {
    await withTimeout(database.close(), timeoutMs, 'database close');
  } catch (error) {
    getLogger().warn({ err: errorText(error) }, 'database close failed');
  }
}
