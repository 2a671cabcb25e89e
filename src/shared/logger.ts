/**
 * perf-sidecar's own log lines: pino, JSON, one shared instance.
 *
 * Library code logs through {@link getLogger}; a host application can hand perf-sidecar its own pino
 * logger with {@link setLogger} so that the lines land in its stream. Keys that commonly hold secrets
 * are redacted as a second line of defence: the first is that nothing logs URLs or headers unredacted.
 */
import { type DestinationStream, type Logger, pino } from 'pino';

/** Log levels accepted by `LOG_LEVEL` and {@link setLogLevel} (pino's). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** A pino log level. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Keys censored in every log line, wherever they appear one level deep. */
const REDACT_PATHS = [
  'password',
  '*.password',
  'authorization',
  '*.authorization',
  'token',
  '*.token',
  'headers.cookie',
  '*.headers.cookie',
];

/**
 * A logger with perf-sidecar's name and redactions, writing to `destination` (default stdout): for
 * {@link setLogger} when the lines belong somewhere else (the demo sends them to a file).
 */
export function createLogger(destination?: DestinationStream): Logger {
  const options = {
    name: 'perf-sidecar',
    level: 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  };
  return destination ? pino(options, destination) : pino(options);
}

let current: Logger = createLogger();

/** The logger perf-sidecar writes to. */
export function getLogger(): Logger {
  return current;
}

/** Replaces the logger perf-sidecar writes to (for example with a child of the host's pino). */
export function setLogger(logger: Logger): void {
  current = logger;
}

/** Sets the level of the current logger. */
export function setLogLevel(level: LogLevel): void {
  current.level = level;
}
