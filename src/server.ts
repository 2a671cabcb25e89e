/**
 * The sidecar process: `npm start` runs `node --import ./src/register.ts ./src/server.ts`.
 *
 * The register entry has already started telemetry (or stopped the process on an invalid
 * configuration); this module starts the sidecar on HOST:PORT, prints one start-up line with the
 * URL of every endpoint, and shuts down on SIGTERM, SIGINT and SIGHUP: stop accepting, finish
 * in-flight requests, flush spans, metrics, summary rollups and alerts, close Redis and PostgreSQL,
 * exit 0 (exit 1 when that takes more than `SHUTDOWN_TIMEOUT_MS`, 10 s by default). A second signal
 * during the shutdown exits at once (exit 1), for an operator who does not want to wait.
 *
 * SIGHUP shuts down too: the sidecar has nothing to reload, and Node's default for SIGHUP (a closed
 * terminal, some supervisors) would end the process without flushing.
 */
import { ConfigError } from './config.ts';
import { type SidecarServer, startSidecar } from './http/index.ts';
import { errorText } from './shared/errors.ts';
import { getLogger } from './shared/logger.ts';
import { MissingPeerError } from './shared/peers.ts';

/** The signals that start a graceful shutdown. */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

let sidecar: SidecarServer;
try {
  sidecar = await startSidecar();
} catch (error) {
  if (error instanceof ConfigError || error instanceof MissingPeerError) {
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

const deadlineMs = sidecar.telemetry.config.server.shutdownTimeoutMs;
// Kept for what follows sidecar.close(): its telemetry part ends with a Redis QUIT (up to a
// second), and the final log line.
const reserveMs = Math.min(1500, deadlineMs * 0.15);
let stopping = false;
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (stopping) {
    log.warn({ signal }, 'second signal during shutdown; exiting now');
    process.exit(1);
  }
  stopping = true;
  log.info({ signal, deadline_ms: deadlineMs }, 'perf-sidecar shutting down');
  const deadline = setTimeout(() => {
    log.error(`graceful shutdown took longer than ${deadlineMs} ms; exiting`);
    process.exit(1);
  }, deadlineMs);
  deadline.unref();
  await sidecar.close(deadlineMs - reserveMs);
  clearTimeout(deadline);
  log.info('perf-sidecar stopped');
  process.exit(0);
}
for (const signal of SHUTDOWN_SIGNALS) process.on(signal, () => void stop(signal));
