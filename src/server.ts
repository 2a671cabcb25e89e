/**
 * The sidecar process: `npm start` runs `node --import ./src/register.ts ./src/server.ts`.
 *
 * The register entry has already started telemetry (or stopped the process on an invalid
 * configuration); this module starts the sidecar on HOST:PORT, prints one start-up line with the
 * URL of every endpoint, and shuts down on SIGTERM and SIGINT: stop accepting, finish in-flight
 * requests, flush spans, metrics, summary rollups and alerts, close Redis and PostgreSQL, exit 0
 * (exit 1 when that takes more than 10 s).
 */
import { ConfigError } from './config.ts';
import { errorText } from './errors.ts';
import { type SidecarServer, startSidecar } from './http/index.ts';
import { getLogger } from './logger.ts';

/** Longest a graceful shutdown may take before the process exits anyway, ms. */
const SHUTDOWN_DEADLINE_MS = 10_000;

let sidecar: SidecarServer;
try {
  sidecar = await startSidecar();
} catch (error) {
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  const code = (error as NodeJS.ErrnoException).code;
  getLogger().fatal({ err: errorText(error), code }, 'perf-sidecar could not start');
  process.exit(1);
}

const log = getLogger();
const base = sidecar.url;
const endpoints = {
  performance: `${base}/api/system/performance`,
  health: `${base}/api/system/performance/health`,
  alerts: `${base}/api/system/alerts`,
  metrics: `${base}/metrics`,
  livez: `${base}/livez`,
  readyz: `${base}/readyz`,
};
log.info(
  {
    url: base,
    endpoints,
    memoryOnly: sidecar.telemetry.memoryOnly,
    auth: sidecar.telemetry.config.apiToken !== undefined,
  },
  `perf-sidecar listening on ${base} (endpoints: ${Object.values(endpoints).join(' ')})`,
);

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
  await sidecar.close(SHUTDOWN_DEADLINE_MS - 1500); // its own deadline, plus a Redis QUIT
  clearTimeout(deadline);
  log.info('perf-sidecar stopped');
  process.exit(0);
}
process.once('SIGTERM', () => void stop('SIGTERM'));
process.once('SIGINT', () => void stop('SIGINT'));
