/**
 * The sidecar process: `npm start` runs `node --import ./dist/register.js ./dist/server.js` (this
 * file and the preload, compiled).
 *
 * The register entry has already started telemetry (or stopped the process on an invalid
 * configuration or rules file); this module starts the sidecar on HOST:PORT with its OTLP receivers
 * (`OTLP_HTTP_PORT`, `OTLP_GRPC_PORT`, unless `PERF_INGEST=false`), prints one start-up line with
 * the URL of every endpoint, and shuts down on SIGTERM and SIGINT: stop accepting, finish in-flight
 * requests, evaluate what the receivers accepted, flush spans, metrics, summary rollups, alerts and
 * forwarded traces, close Redis and PostgreSQL, exit 0 (exit 1 when that takes more than
 * `SHUTDOWN_TIMEOUT_MS`, 10 s by default). A second signal during the shutdown exits at once
 * (exit 1), for an operator who does not want to wait.
 *
 * SIGHUP reloads the target rules (`PERF_RULES_FILE`), as daemons reload their configuration on it;
 * a bad new file keeps the rules in force and says why in the log.
 */
import { ConfigError, getConfig } from './config.ts';
import { type SidecarServer, startSidecar } from './http/index.ts';
import { errorText } from './shared/errors.ts';
import { getLogger } from './shared/logger.ts';
import { MissingPeerError } from './shared/peers.ts';
import { RulesError } from './telemetry/index.ts';

/** The signals that start a graceful shutdown. */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

let sidecar: SidecarServer;
try {
  sidecar = await startSidecar({ ingest: getConfig().ingest.enabled });
} catch (error) {
  if (error instanceof ConfigError || error instanceof MissingPeerError || error instanceof RulesError) {
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
  dashboard: `${base}/`,
  performance: `${base}/api/system/performance`,
  health: `${base}/api/system/performance/health`,
  alerts: `${base}/api/system/alerts`,
  alertStream: `${base}/api/system/alerts/stream`,
  metrics: `${base}/metrics`,
  livez: `${base}/livez`,
  readyz: `${base}/readyz`,
  ...(sidecar.ingest
    ? { otlpHttp: `${sidecar.ingest.httpUrl}/v1/traces`, otlpGrpc: `grpc://${sidecar.ingest.grpcAddress}` }
    : {}),
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
process.on('SIGHUP', () => {
  if (stopping) return;
  void sidecar.telemetry.reloadRules().then((loaded) => {
    if (loaded) log.info({ signal: 'SIGHUP' }, 'target rules reloaded');
    else if (sidecar.telemetry.config.ingest.rulesFile === undefined) {
      log.info({ signal: 'SIGHUP' }, 'SIGHUP: nothing to reload (no PERF_RULES_FILE)');
    }
  });
});
