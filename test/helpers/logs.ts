/** perf-sidecar's log, captured for a test. */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { setLogger } from '../../src/shared/logger.ts';

/**
 * Sends perf-sidecar's log lines at info and above into the returned array, as their messages.
 * The caller restores the previous logger (`setLogger(previous)`) after the test.
 */
export function captureLogMessages(): string[] {
  const lines: string[] = [];
  setLogger(
    pino(
      { level: 'info' },
      new Writable({
        write(chunk: Buffer, _encoding, done) {
          lines.push(String((JSON.parse(chunk.toString()) as { msg?: unknown }).msg));
          done();
        },
      }),
    ),
  );
  return lines;
}
