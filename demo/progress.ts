/**
 * A one-line progress bar on a terminal; nothing (the final summary only) when output is not a TTY,
 * so CI logs and pipes stay clean.
 */

/** Renders progress of the demo workload. */
export class ProgressBar {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  readonly #width = 30;
  #lastDraw = 0;

  constructor(stream: NodeJS.WriteStream = process.stderr) {
    this.#stream = stream;
    this.#enabled = stream.isTTY === true;
  }

  /**
   * Redraws the bar (at most every 100 ms). `fraction` is the share done (0 to 1), `label` the
   * figures shown after the bar.
   */
  update(fraction: number, label: string, force = false): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const done = Math.max(0, Math.min(this.#width, Math.round(fraction * this.#width)));
    const bar = `${'#'.repeat(done)}${'.'.repeat(this.#width - done)}`;
    const line = `[${bar}] ${Math.floor(fraction * 100)
      .toString()
      .padStart(3)}% ${label}`;
    this.#stream.write(`\r${line.slice(0, (this.#stream.columns ?? 120) - 1)}\x1b[K`);
  }

  /** Ends the bar's line. */
  finish(): void {
    if (this.#enabled) this.#stream.write('\n');
  }
}
