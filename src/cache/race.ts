/**
 * A factory run raced against its soft timeout (when a stale value could be served instead) and its
 * hard timeout: shared by single calls (factory-runner.ts) and batches (batch.ts).
 */

/** What the race of a factory against its timeouts gave. */
export type Raced =
  | { readonly kind: 'value'; readonly value: unknown }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'soft' }
  | { readonly kind: 'hard' };

/** Waits for `run`, a soft timeout (when given) or the hard timeout, whichever comes first. */
export function race(run: Promise<unknown>, softMs: number | undefined, hardMs: number): Promise<Raced> {
  return new Promise((resolve) => {
    let settled = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (result: Raced) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      resolve(result);
    };
    // Timers must not keep a process alive for a factory nobody waits on any more.
    timers.push(setTimeout(() => finish({ kind: 'hard' }), hardMs).unref());
    if (softMs !== undefined) timers.push(setTimeout(() => finish({ kind: 'soft' }), softMs).unref());
    run.then(
      (value) => finish({ kind: 'value', value }),
      (error: unknown) => finish({ kind: 'error', error }),
    );
  });
}
