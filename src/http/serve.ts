/**
 * Running the sidecar: telemetry, the optional database service, the Hono app on
 * `@hono/node-server`, the resource sampler, and a graceful `close()`. `src/server.ts` (what
 * `npm start` runs) is this plus signal handling; tests and the demo call it directly.
 */
import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import { type AddressInfo, Server as NetServer } from 'node:net';
import type { ServerType } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../db/index.ts';
import type { Ingest } from '../ingest/index.ts';
import { errorText } from '../shared/errors.ts';
import { getLogger } from '../shared/logger.ts';
import { callable, integer, matching, parseOptions, withMethods } from '../shared/options.ts';
import { importPeer } from '../shared/peers.ts';
import { withTimeout } from '../shared/timeout.ts';
import { startTelemetry, stopTelemetry, type Telemetry } from '../telemetry/index.ts';
import { endAlertStreams } from './alert-stream.ts';
import { type AppOptions, createApp, dashboardOptionsOf } from './app.ts';
import { addDashboard } from './dashboard.ts';
import { performanceOptionsSchema } from './middleware/options.ts';

/** The fields of {@link SidecarOptions} (a constant of their own, so the declarations keep the comments). */
const sidecarOptionFields = {
  /** Listen address. Default `HOST` (127.0.0.1). */
  host: matching(/^[A-Za-z0-9.:_-]{1,253}$/, 'a host name or IP address').optional(),
  /** Listen port; 0 picks a free one. Default `PORT` (8000). */
  port: integer(0, 65_535).optional(),
  /**
   * Database whose health is reported. Default: a service on `DATABASE_URL` when it is set (not
   * verified at start: an unreachable database shows as a failing health check), none otherwise.
   * `false`: none.
   */
  database: z
    .union([withMethods<Database>(['getHealthStatus'], 'a database service'), z.literal(false)])
    .optional(),
  /** Performance middleware options. */
  middleware: performanceOptionsSchema.optional(),
  /**
   * Adds the host's own routes before the server accepts traffic (Hono cannot add routes once it
   * has matched a request). They get the performance middleware like the system endpoints.
   */
  routes: callable<(app: Hono) => void>('a function that adds routes to the app').optional(),
  /**
   * Whether to start the OTLP receivers (`OTLP_HTTP_PORT`, `OTLP_GRPC_PORT`), so that services
   * export their spans and metrics to this sidecar. Default `false`: an app serving its own routes
   * is not a receiver unless it asks; the sidecar process (`npm start`) passes `PERF_INGEST`.
   */
  ingest: z.boolean().optional(),
  /**
   * Whether to serve the dashboard (`GET /`, `/ui/*`, `/api/system/dashboard`). It is added after
   * `routes`, so a host's own `/` wins over it. Default `true`.
   */
  dashboard: z.boolean().optional(),
};
const sidecarOptionsSchema: z.ZodObject<typeof sidecarOptionFields, z.core.$strict> =
  z.strictObject(sidecarOptionFields);

/** Options of {@link startSidecar}. Defaults come from the configuration. */
export type SidecarOptions = z.input<typeof sidecarOptionsSchema>;

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
  /** The OTLP receivers, when started (`ingest: true`). */
  readonly ingest: Ingest | undefined;
  /**
   * Graceful stop: stops listening, closes idle keep-alive connections, finishes in-flight requests
   * (their responses carry `Connection: close`, so keep-alive clients open a new connection instead
   * of reusing one that is about to go), closes the database service it opened, then flushes spans,
   * metrics, summary rollups and alerts and closes their connections. Each step is bounded; the
   * whole takes at most about `timeoutMs` (default 8000).
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * Starts the sidecar (telemetry first, if the preload entry has not already).
 *
 * @throws {InvalidArgumentError} naming a bad option, before anything starts.
 * @throws {ConfigError} on an invalid configuration.
 * @throws {Error} when the address cannot be listened on (`EADDRINUSE`, ...).
 */
export async function startSidecar(given: SidecarOptions = {}): Promise<SidecarServer> {
  const options = parseOptions(sidecarOptionsSchema, given, { what: 'an option of startSidecar' });
  const telemetry = startTelemetry();
  const { config } = telemetry;
  const log = getLogger();
  let database: Database | undefined;
  let ownsDatabase = false;
  if (options.database) database = options.database;
  else if (options.database === undefined && config.databaseUrl !== undefined) {
    // Loaded only with DATABASE_URL: the database service's modules (and pg) are memory that a
    // sidecar without a database would carry for nothing.
    const [{ configuredDatabaseOptions, createDatabase }, { reportDatabaseAtStart }] = await Promise.all([
      import('../db/index.ts'),
      import('../db/internal.ts'),
    ]);
    // The configured pool settings, and alerts through this telemetry (none when it is disabled).
    database = await createDatabase(configuredDatabaseOptions(config, telemetry));
    ownsDatabase = true;
    // Not awaited: a database that does not answer must not hold up the server.
    void reportDatabaseAtStart(database);
  }
  let ingest: Ingest | undefined;
  try {
    if (options.ingest) {
      // Loaded only when asked for: protobufjs and grpc-js cost an app that serves no OTLP nothing.
      const { startIngest } = await import('../ingest/index.ts');
      ingest = await startIngest({ telemetry, host: options.host ?? config.server.host, logger: log });
    }
  } catch (error) {
    if (ownsDatabase && database) await closeQuietly(database, 2000);
    throw error;
  }
  const appOptions: AppOptions = {
    telemetry,
    ...(database ? { database } : {}),
    ...(ingest ? { ingest } : {}),
    ...(options.middleware ? { middleware: options.middleware } : {}),
  };
  // The dashboard comes after the host's routes, so that a host's own `/` is the one served.
  const app = createApp({ ...appOptions, dashboard: false });
  options.routes?.(app);
  if (options.dashboard !== false) addDashboard(app, dashboardOptionsOf(appOptions));
  const host = options.host ?? config.server.host;
  let server: ServerType;
  try {
    // Loaded here, not at import: an app that only uses the middleware needs no @hono/node-server.
    const { serve } = await importPeer('@hono/node-server', () => import('@hono/node-server'));
    server = await new Promise((resolve, reject) => {
      const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? config.server.port });
      s.once('listening', () => resolve(s));
      s.once('error', reject);
    });
  } catch (error) {
    // Nothing is served: give back the receivers and the database service opened for it.
    await ingest?.close(1000);
    if (ownsDatabase && database) await closeQuietly(database, 2000);
    throw error;
  }
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  // serve() without a createServer option makes a node:http server.
  const http = server as HttpServer;

  // Responses not yet started, so that a shutdown can still turn them into `Connection: close`.
  // Bounded by the open connections (one unanswered request per connection without pipelining).
  const pending = new Set<ServerResponse>();
  let draining = false;
  http.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) {
      res.shouldKeepAlive = false;
      return;
    }
    pending.add(res);
    res.once('close', () => pending.delete(res));
    res.once('finish', () => pending.delete(res));
  });

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    telemetry,
    app,
    ingest,
    close(timeoutMs = 8000) {
      closing ??= (async () => {
        // One deadline: requests get 40 % of it, the database 10 %, telemetry the rest minus a
        // second for the Redis QUIT that follows its flushes.
        const deadline = Date.now() + timeoutMs;
        const left = () => Math.max(deadline - Date.now(), 100);
        // Event streams never finish by themselves: ended here, they leave idle connections that
        // the drain closes at once instead of holding it until its deadline.
        endAlertStreams(app);
        // The API and the receivers wind down together; evaluation of what the receivers accepted
        // ends before telemetry flushes, so its metrics and alerts are in that flush.
        await Promise.all([
          drain(http, pending, timeoutMs * 0.4, log, () => {
            draining = true;
          }),
          ingest?.close(timeoutMs * 0.4),
        ]);
        if (ownsDatabase && database) await closeQuietly(database, Math.min(left(), timeoutMs * 0.1));
        await stopTelemetry(Math.max(left() - 1000, 100));
      })();
      return closing;
    },
  };
}

/**
 * Stops `server` so that keep-alive clients are never reset: the listening socket closes first (a
 * client that reconnects gets ECONNREFUSED, which it can retry elsewhere, rather than a connection
 * accepted into the backlog and then reset), then idle connections close, and responses still to
 * come carry `Connection: close` (Node then closes their connection once they are sent). Connections
 * still open after `graceMs` are closed.
 */
async function drain(
  server: HttpServer,
  pending: Set<ServerResponse>,
  graceMs: number,
  log: Logger,
  markDraining: () => void,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.once('close', () => resolve()));
  markDraining();
  for (const res of pending) if (!res.headersSent) res.shouldKeepAlive = false;
  pending.clear();
  // net.Server's close only stops listening; http.Server's would close idle connections first.
  NetServer.prototype.close.call(server);
  server.closeIdleConnections();
  // A response whose headers were already sent with keep-alive leaves an idle connection behind.
  const idle = setInterval(() => server.closeIdleConnections(), 50);
  const timer = setTimeout(() => {
    log.warn('in-flight requests did not finish in time; closing their connections');
    server.closeAllConnections();
  }, graceMs);
  try {
    await closed;
  } finally {
    clearInterval(idle);
    clearTimeout(timer);
  }
  // http.Server's own close clears its connection-checking timer; the socket is already closed.
  server.close(() => undefined);
}

async function closeQuietly(database: Database, timeoutMs: number): Promise<void> {
  try {
    await withTimeout(database.close(), timeoutMs, 'database close');
  } catch (error) {
    getLogger().warn({ err: errorText(error) }, 'database close failed');
  }
}
