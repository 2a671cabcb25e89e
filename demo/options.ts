/**
 * Command-line options of the demo workload, parsed in one place: the preload (demo/register.ts)
 * needs `--speed` before telemetry starts, the runner needs the rest.
 */
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

/** Where the demo's log lines go when it runs in a terminal and no `--log` was given. */
export const DEFAULT_DEMO_LOG = path.join(tmpdir(), 'perf-sidecar-demo.log');

/** What `npm run demo -- [options]` accepts. */
export interface DemoOptions {
  /** Time compression: every simulated duration, target and slow-query threshold is divided by it. */
  readonly speed: number;
  /** Stop after this many operations (when `durationSeconds` is not given). */
  readonly count: number | undefined;
  /** Stop starting operations after this many seconds of wall time. */
  readonly durationSeconds: number | undefined;
  /** Operations running at the same time. */
  readonly concurrency: number;
  /** Seed of the random durations, users and failures: the same seed gives the same workload. */
  readonly seed: number;
  /**
   * Keep serving this long after the workload, seconds; 0 exits at once, -1 until Ctrl-C or SIGTERM.
   * Default: -1 in a terminal (so the printed URLs can be opened), 0 otherwise (CI, pipes).
   */
  readonly lingerSeconds: number;
  /**
   * File that perf-sidecar's log lines (one per request) are appended to; `undefined` writes them
   * to stdout. Default: {@link DEFAULT_DEMO_LOG} in a terminal (they would break up the progress
   * bar), stdout otherwise. `--log -` asks for stdout.
   */
  readonly logFile: string | undefined;
  /** Listen port of the in-process sidecar; `undefined` takes PORT from the configuration. */
  readonly port: number | undefined;
  /** Listen address of the in-process sidecar; `undefined` takes HOST from the configuration. */
  readonly host: string | undefined;
  /** PostgreSQL schema of the demo tables (created when missing, kept afterwards). */
  readonly schema: string;
  /** Show the usage text and exit. */
  readonly help: boolean;
}

/** Raised for a bad command line; the runner prints its message and the usage. */
export class DemoUsageError extends Error {
  override readonly name = 'DemoUsageError';
}

/** The usage text. */
export const USAGE = `usage: npm run demo -- [options]

  --count N          stop after N operations (default 200 when --duration is not given; at most 1000000)
  --duration S       run for S seconds of wall time instead (at most 604800)
  --speed X          divide simulated durations and targets by X (1 = real time; default 20; 1 to 10000)
  --concurrency N    operations in flight at once (default 4; 1 to 64)
  --seed N           seed of the workload (default 42)
  --linger S         keep serving S seconds after the workload ("forever": until Ctrl-C or SIGTERM;
                     default: forever in a terminal, 0 otherwise)
  --log FILE         append the sidecar's log lines to FILE ("-": the terminal; default: ${DEFAULT_DEMO_LOG}
                     in a terminal, stdout otherwise)
  --port N           port of the in-process sidecar (default: PORT, 8000; 0 picks a free one)
  --host H           listen address (default: HOST, 127.0.0.1)
  --schema NAME      PostgreSQL schema of the demo tables (default perf_demo)
  --help             this text`;

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

function numberOption(
  name: string,
  raw: string | undefined,
  min: number,
  max: number,
  integer: boolean,
): number | undefined {
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new DemoUsageError(`--${name}: "${raw}" is not ${integer ? 'a whole number' : 'a number'}`);
  }
  if (value < min || value > max) {
    throw new DemoUsageError(`--${name}: ${raw} is out of range; expected ${min} to ${max}`);
  }
  return value;
}

/** What the defaults depend on. */
export interface DemoEnvironment {
  /** Whether stdout is a terminal (someone is watching). Default false. */
  readonly interactive?: boolean;
}

/**
 * Parses the demo's command line.
 *
 * @throws {DemoUsageError} naming the bad option and the expected form.
 */
export function parseDemoOptions(argv: readonly string[], environment: DemoEnvironment = {}): DemoOptions {
  const interactive = environment.interactive === true;
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        count: { type: 'string' },
        duration: { type: 'string' },
        speed: { type: 'string' },
        concurrency: { type: 'string' },
        seed: { type: 'string' },
        linger: { type: 'string' },
        log: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        schema: { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    throw new DemoUsageError((error as Error).message);
  }
  const str = (name: string) => values[name] as string | undefined;
  const durationSeconds = numberOption('duration', str('duration'), 0.001, 604_800, false);
  const count = numberOption('count', str('count'), 1, 1_000_000, true);
  if (count !== undefined && durationSeconds !== undefined) {
    throw new DemoUsageError('--count and --duration exclude each other; give one');
  }
  const schema = str('schema') ?? 'perf_demo';
  if (!SCHEMA_NAME.test(schema)) {
    throw new DemoUsageError(
      `--schema: "${schema.slice(0, 80)}" is not a schema name; expected 1 to 63 lower-case letters, digits or _`,
    );
  }
  const log = str('log');
  if (log !== undefined && (log.trim() === '' || log.length > 4096 || log.includes('\0'))) {
    throw new DemoUsageError('--log: expected a file path, or - for the terminal');
  }
  const host = str('host');
  if (host !== undefined && (host.length === 0 || host.length > 255 || /\s/.test(host))) {
    throw new DemoUsageError('--host: expected a host name or IP address');
  }
  return {
    speed: numberOption('speed', str('speed'), 1, 10_000, false) ?? 20,
    count: durationSeconds === undefined ? (count ?? 200) : undefined,
    durationSeconds,
    concurrency: numberOption('concurrency', str('concurrency'), 1, 64, true) ?? 4,
    seed: numberOption('seed', str('seed'), 0, 2 ** 32 - 1, true) ?? 42,
    lingerSeconds:
      str('linger') === 'forever'
        ? -1
        : (numberOption('linger', str('linger'), 0, 604_800, false) ?? (interactive ? -1 : 0)),
    logFile: log === '-' ? undefined : (log ?? (interactive ? DEFAULT_DEMO_LOG : undefined)),
    port: numberOption('port', str('port'), 0, 65_535, true),
    host,
    schema,
    help: values.help === true,
  };
}
