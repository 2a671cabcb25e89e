/** Polling with a deadline: the tests' only way of waiting for something to happen. */

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** Give up after this long, ms. Default 10000. */
  readonly timeoutMs?: number;
  /** Pause between attempts, ms. Default 20. */
  readonly intervalMs?: number;
  /** Shown in the error when the deadline passes. */
  readonly what?: string;
}

/**
 * Calls `check` until it returns a value other than `undefined`/`false` (or stops throwing), and
 * returns that value. Throws, with the last error, when the deadline passes.
 */
export async function waitFor<T>(
  check: () => T | Promise<T>,
  options: WaitOptions = {},
): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value as Exclude<T, false | undefined>;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const reason = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out waiting for ${options.what ?? 'condition'}${reason}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 20));
  }
}
