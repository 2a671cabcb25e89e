/**
 * The demo's preload: `node --import ./demo/register.ts ./demo/run.ts [options]`.
 *
 * `--speed X` compresses time, so the operations' targets and the slow-query threshold must shrink
 * with it, and they must do so before telemetry starts: the duration histogram's buckets are built
 * at start from the target table (every T and 4T is a bucket edge, which keeps percentiles and
 * Apdex exact). This preload therefore scales `PERF_TARGETS` and `DB_SLOW_QUERY_SECONDS` in the
 * environment and only then runs perf-sidecar's own preload (the ESM hooks, then telemetry).
 *
 * It also points perf-sidecar's logger at the `--log` file (see options.ts) before anything logs.
 *
 * It imports only modules that load no `http`, `pg` or `ioredis`: anything reaching src/index.ts here would load
 * `http` (and more) before the instrumentation hooks exist.
 */
import { pino } from 'pino';
import { createLogger, setLogger } from '../src/shared/logger.ts';
import { type DemoOptions, parseDemoOptions } from './options.ts';
import { DESIGN_SLOW_QUERY_SECONDS, DESIGN_TARGETS } from './targets.ts';

let speed = 1;
let options: DemoOptions | undefined;
try {
  options = parseDemoOptions(process.argv.slice(2), { interactive: process.stdout.isTTY === true });
  speed = options.speed;
} catch {
  // A bad command line is reported by run.ts with the usage text; telemetry starts unscaled.
}

// The log lines (one per request) go to a file before telemetry logs its first line: on a terminal
// they would break up the progress bar. Synchronous writes, so nothing is lost at process.exit().
if (options?.logFile !== undefined) {
  try {
    setLogger(
      createLogger(pino.destination({ dest: options.logFile, sync: true, append: true, mkdir: true })),
    );
  } catch (error) {
    process.stderr.write(`demo: --log: cannot write ${options.logFile}: ${(error as Error).message}\n`);
    process.exit(2);
  }
}

if (speed !== 1) {
  let own: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(process.env.PERF_TARGETS ?? '{}');
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed)) own = parsed as typeof own;
  } catch {
    // Left as it is: the configuration check names the bad PERF_TARGETS and stops.
  }
  const scaled: Record<string, unknown> = { ...own };
  for (const [name, seconds] of Object.entries(DESIGN_TARGETS)) {
    const base = typeof own[name] === 'number' ? (own[name] as number) : seconds;
    scaled[name] = base / speed;
  }
  process.env.PERF_TARGETS = JSON.stringify(scaled);
  const slow = Number(process.env.DB_SLOW_QUERY_SECONDS ?? DESIGN_SLOW_QUERY_SECONDS);
  if (Number.isFinite(slow) && slow > 0) process.env.DB_SLOW_QUERY_SECONDS = String(slow / speed);
}

// The demo is perf-sidecar's own program, not a host: named as docker-compose.yml names it, unless set.
process.env.OTEL_SERVICE_NAME ||= 'perf-sidecar-demo';

await import('../src/register.ts');
