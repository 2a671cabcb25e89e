/**
 * The demo workload: `npm run demo -- [options]` (see options.ts for the command line).
 *
 * Starts the sidecar in this process (so its `/metrics` shows the work), then drives the library
 * API with four example operations at seeded-random durations, some over their targets,
 * and prints where to look. Works with the embedded defaults (no REDIS_URL: memory-only alerts and
 * cache; no DATABASE_URL: the embedded PGlite) and against the compose stack.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { AlertType } from '../src/alerts/index.ts';
import { createCache } from '../src/cache/index.ts';
import { configuredDatabaseOptions, createDatabase, type Database } from '../src/db/index.ts';
import { startTelemetry, stopTelemetry } from '../src/index.ts';
import { errorText } from '../src/shared/errors.ts';
import { getLogger } from '../src/shared/logger.ts';
import { redactUrl } from '../src/shared/urls.ts';
import { DemoUsageError, parseDemoOptions, USAGE } from './options.ts';
import { ProgressBar } from './progress.ts';
import { startDemoSidecar } from './sidecar.ts';
import { type DemoOperation, prepareTables, runOperation, WorkloadPlan } from './workload.ts';

/** Endpoints the demo calls on its own sidecar after each operation, so the HTTP panels have data. */
const HTTP_PATHS = [
  '/livez',
  '/readyz',
  '/api/system/performance?hours=1',
  '/api/system/performance/health',
  '/api/system/alerts?limit=10',
] as const;

/** Longest the demo waits for Redis before running memory-only, ms. */
const REDIS_READY_TIMEOUT_MS = 5000;

interface OperationTally {
  count: number;
  errors: number;
  overTarget: number;
}

let options: ReturnType<typeof parseDemoOptions>;
try {
  options = parseDemoOptions(process.argv.slice(2), { interactive: process.stdout.isTTY === true });
} catch (error) {
  if (!(error instanceof DemoUsageError)) throw error;
  process.stderr.write(`demo: ${error.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (options.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const out = (line = '') => process.stdout.write(`${line}\n`);
const telemetry = startTelemetry();
const config = telemetry.config;
const log = getLogger();

let stopRequested = false;
let wakeLinger: () => void = () => undefined;
const onSignal = (signal: string) => {
  if (stopRequested) return;
  stopRequested = true;
  log.info({ signal }, 'demo stopping: no new operations');
  wakeLinger();
};
process.on('SIGTERM', () => onSignal('SIGTERM'));
process.on('SIGINT', () => onSignal('SIGINT'));

/** Stops with one line naming what failed (no stack trace: these are configuration problems). */
async function failStart(what: string, error: unknown, db?: Database): Promise<never> {
  process.stderr.write(`demo: ${what}: ${errorText(error)}\n`);
  await db?.close().catch(() => undefined);
  await stopTelemetry(2000).catch(() => undefined);
  process.exit(1);
}

const db = await createDatabase(configuredDatabaseOptions(config, telemetry)).catch((error: unknown) =>
  failStart('could not open the database', error),
);
const sidecar = await startDemoSidecar({
  host: options.host ?? config.server.host,
  port: options.port ?? config.server.port,
  database: db,
}).catch((error: unknown) => failStart('could not start the sidecar', error, db));
// A wildcard listen address is not something to call: talk to ourselves over loopback.
const selfUrl = sidecar.url.replace(/\/\/(0\.0\.0\.0|\[::\])(?=:)/, '//127.0.0.1');
// With PERF_API_TOKEN set, the system endpoints want it; the demo is a legitimate client.
const authHeaders: Record<string, string> = config.apiToken
  ? { authorization: `Bearer ${config.apiToken}` }
  : {};
const cache = createCache({
  name: 'demo',
  redis: config.redisUrl,
  redisCommandTimeoutMs: config.redisCommandTimeoutMs,
  prefix: `${config.alerts.keyPrefix}perf-demo:`,
  // Smaller than the user key space on purpose: evictions make the Redis level (L2) serve hits.
  maxItems: 64,
});
const redisReady = config.redisUrl === undefined ? false : await cache.ready(REDIS_READY_TIMEOUT_MS);

out(`perf-sidecar demo: sidecar on ${sidecar.url}`);
out(
  `  database: ${db.embedded ? 'embedded PGlite (DATABASE_URL unset)' : db.target}; schema ${options.schema}`,
);
out(
  `  cache and alerts: ${
    config.redisUrl === undefined
      ? 'memory only (REDIS_URL unset)'
      : `Redis ${redactUrl(config.redisUrl)}${redisReady ? '' : ' (not answering yet)'}`
  }`,
);
out(`  log lines: ${options.logFile ?? 'stdout'}${options.logFile ? ' (--log - shows them here)' : ''}`);
out(
  `  workload: ${options.count !== undefined ? `${options.count} operations` : `${options.durationSeconds} s`}, speed ${options.speed}x, concurrency ${options.concurrency}, seed ${options.seed}`,
);

await prepareTables(db, options.schema).catch(async (error: unknown) => {
  await sidecar.close().catch(() => undefined);
  await cache.close().catch(() => undefined);
  return failStart('could not prepare the demo tables', error, db);
});

const plan = new WorkloadPlan(options.seed, options.speed);
const tally = new Map<DemoOperation, OperationTally>();
const ctx = { db, cache, schema: options.schema, cacheTtlSeconds: 30 };
const progress = new ProgressBar();
const startedAt = Date.now();
const deadline =
  options.durationSeconds === undefined ? Infinity : startedAt + options.durationSeconds * 1000;
let started = 0;
let finished = 0;
let failed = 0;
let httpCalls = 0;

function targetOf(name: DemoOperation): number | undefined {
  return (
    telemetry.targets[name] ?? (name === 'ai_layout_generation' ? telemetry.targets.ai_operation : undefined)
  );
}

function more(): boolean {
  if (stopRequested) return false;
  if (options.count !== undefined) return started < options.count;
  return Date.now() < deadline;
}

function fraction(): number {
  if (options.count !== undefined) return finished / options.count;
  return Math.min(1, (Date.now() - startedAt) / ((options.durationSeconds ?? 1) * 1000));
}

async function worker(): Promise<void> {
  while (more()) {
    started++;
    const op = plan.next();
    const began = performance.now();
    const ok = await runOperation(ctx, op);
    const seconds = (performance.now() - began) / 1000;
    const entry = tally.get(op.name) ?? { count: 0, errors: 0, overTarget: 0 };
    entry.count++;
    if (!ok) {
      entry.errors++;
      failed++;
    }
    const target = targetOf(op.name);
    if (target !== undefined && seconds > target) entry.overTarget++;
    tally.set(op.name, entry);
    finished++;
    const path = HTTP_PATHS[finished % HTTP_PATHS.length] as string;
    const response = await fetch(`${selfUrl}${path}`, { headers: authHeaders }).catch(() => undefined);
    await response?.body?.cancel();
    httpCalls++;
    const breaches = [...tally.values()].reduce((n, t) => n + t.overTarget, 0);
    progress.update(fraction(), `${finished} ops, ${breaches} over target, ${failed} failed`);
  }
}

await Promise.all(Array.from({ length: options.concurrency }, () => worker()));
progress.update(fraction(), `${finished} ops`, true);
progress.finish();

const elapsed = (Date.now() - startedAt) / 1000;
out();
out(`${finished} operations in ${elapsed.toFixed(1)} s (${httpCalls} HTTP calls to the sidecar):`);
for (const [name, t] of [...tally.entries()].sort(([a], [b]) => a.localeCompare(b))) {
  const target = targetOf(name);
  out(
    `  ${name.padEnd(22)} ${String(t.count).padStart(6)} runs  ${String(t.overTarget).padStart(5)} over the ${target?.toPrecision(3)} s target  ${String(t.errors).padStart(4)} failed`,
  );
}

// Alerts are written asynchronously; flush so the lists hold what this run raised.
await telemetry.alerts.flush().catch(() => undefined);
const recent = await telemetry.alerts.recent({ limit: 1000 }).catch(() => []);
const byType = new Map<AlertType, number>();
for (const alert of recent) byType.set(alert.type, (byType.get(alert.type) ?? 0) + 1);
const summaryResponse = await fetch(`${selfUrl}/api/system/performance`, { headers: authHeaders }).catch(
  () => undefined,
);
await summaryResponse?.body?.cancel();

out();
out('Where to look:');
out(`  summary:  ${sidecar.url}/api/system/performance${summaryResponse?.ok ? '' : ' (did not answer)'}`);
out(`  metrics:  ${sidecar.url}/metrics`);
const lists = [telemetry.alerts.listName('performance_alerts'), telemetry.alerts.listName('memory_alerts')];
out(
  `  alerts:   ${
    telemetry.memoryOnly
      ? `in process (memory-only), lists ${lists.join(', ')}`
      : `Redis lists ${lists.join(', ')}`
  }; ${[...byType.entries()].map(([type, n]) => `${n} ${type}`).join(', ') || 'none'} in the latest records`,
);
out(
  `  traces:   ${config.otlp.endpoint ? `exported to ${redactUrl(config.otlp.endpoint)} (Jaeger UI in the stack: http://localhost:16686)` : 'not exported (OTEL_EXPORTER_OTLP_ENDPOINT unset)'}`,
);

if (options.lingerSeconds !== 0 && !stopRequested) {
  out(
    options.lingerSeconds < 0
      ? `still serving the URLs above: press Ctrl-C to stop (--linger 0 exits at once)`
      : `serving the URLs above for ${options.lingerSeconds} s (Ctrl-C to stop)`,
  );
  const controller = new AbortController();
  wakeLinger = () => controller.abort();
  const linger = options.lingerSeconds < 0 ? 2_147_483 : options.lingerSeconds;
  await sleep(linger * 1000, undefined, { signal: controller.signal }).catch(() => undefined);
}

// The sidecar's close flushes and shuts telemetry down; the cache and database close after it
// (their last metrics were collected by then, and nothing traced runs any more).
await sidecar.close();
await cache.close();
await db.close();
out('demo finished');
process.exit(0);
