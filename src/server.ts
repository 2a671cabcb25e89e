/**
 * The sidecar process: `npm start` runs `node --import ./src/register.ts ./src/server.ts`.
 *
 * The register entry has already started telemetry (or stopped the process on an invalid
 * configuration); this module serves the HTTP app on HOST:PORT and shuts down cleanly on SIGTERM and
 * SIGINT: stop accepting, finish in-flight requests, flush spans, metrics and alerts, exit 0.
 */
import { type ServerType, serve } from '@hono/node-server';
import { ConfigError } from './config.ts';
import { createApp } from './http/index.ts';
import { getLogger } from './logger.ts';
import { shutdownTelemetry, startTelemetry } from './telemetry/index.ts';

/** Longest a graceful shutdown may take before the process exits anyway, ms. */
const SHUTDOWN_DEADLINE_MS = 10_000;

let telemetry: ReturnType<typeof startTelemetry>;
try {
  // Idempotent: returns what the register entry started (or starts it when run without --import).
  telemetry = startTelemetry();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  throw error;
}

const log = getLogger();
const { host, port } = telemetry.config.server;
const app = createApp({ telemetry });

const server: ServerType = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
  const base = `http://${info.family === 'IPv6' ? `[${info.address}]` : info.address}:${info.port}`;
  log.info(
    { url: base, livez: `${base}/livez`, metrics: `${base}/metrics`, memoryOnly: telemetry.memoryOnly },
    `perf-sidecar listening on ${base} (endpoints: ${base}/livez ${base}/metrics)`,
  );
});
server.on('error', (error: NodeJS.ErrnoException) => {
  log.fatal({ err: error.message, code: error.code, host, port }, 'perf-sidecar could not listen');
  process.exit(1);
});

let stopping = false;
async function stop(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, 'perf-sidecar shutting down');
  const deadline = setTimeout(() => {
    log.error('graceful shutdown took longer than 10 s; exiting');
    process.exit(1);
  }, SHUTDOWN_DEADLINE_MS);
  deadline.unref();
  // close() stops accepting and resolves once in-flight requests have finished.
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await shutdownTelemetry(4000);
  clearTimeout(deadline);
  log.info('perf-sidecar stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
