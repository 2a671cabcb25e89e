/**
 * Waiting in the page: a timer that an abort ends early. Pure (timers and `AbortSignal` only, no
 * DOM), so that it runs (and is tested) under Node as well.
 */

/**
 * Resolves after `ms`, or as soon as `signal` aborts (at once if it already has); never rejects.
 * The abort listener goes with the timer: a feed that waits between thousands of reconnects
 * must not pile listeners up on its signal.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
