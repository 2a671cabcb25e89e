/**
 * Deadlines for promises perf-sidecar waits on but does not control (an SDK shutdown, a health
 * query, an EXPLAIN, a cache Redis round trip).
 */

/** Rejected by {@link withTimeout} when the deadline passes first. */
export class TimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} took longer than ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Settles like `promise`, or rejects with a {@link TimeoutError} after `ms`. The promise itself goes
 * on (its rejection, if any, is handled here); the timer never keeps the process alive.
 *
 * @param what what is being waited for, for the message.
 */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError(what, ms)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** One promise waiting in a {@link SharedTimeout}: a node of its list. */
interface Waiting {
  /** When it times out, `performance.now()` ms. */
  readonly deadline: number;
  readonly reject: (error: TimeoutError) => void;
  previous: Waiting | undefined;
  next: Waiting | undefined;
  /** Settled or timed out: out of the list. */
  done: boolean;
}

/**
 * {@link withTimeout} for many promises that all get the same `ms`, with one timer for all of them:
 * for a hot path (every cache Redis round trip), where setting and clearing a timer per promise and
 * `Promise.race` cost several times what the rest of the bound does. Waiting promises are kept in
 * the order they came, which with one `ms` is the order of their deadlines, in a linked list that a
 * settled one leaves at once; the timer is set for the earliest deadline and, when it fires, times
 * out what is due and is set again for the next. It never keeps the process alive.
 */
export class SharedTimeout {
  readonly #ms: number;
  readonly #what: string;
  #first: Waiting | undefined;
  #last: Waiting | undefined;
  #timer: NodeJS.Timeout | undefined;

  /**
   * @param ms the bound of every promise, ms.
   * @param what what is being waited for, for the message.
   */
  constructor(ms: number, what: string) {
    this.#ms = ms;
    this.#what = what;
  }

  /** Settles like `promise`, or rejects with a {@link TimeoutError} `ms` after this call. */
  bound<T>(promise: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const waiting: Waiting = {
        deadline: performance.now() + this.#ms,
        reject,
        previous: this.#last,
        next: undefined,
        done: false,
      };
      if (this.#last === undefined) this.#first = waiting;
      else this.#last.next = waiting;
      this.#last = waiting;
      this.#timer ??= this.#arm(this.#ms);
      promise.then(
        (value) => {
          this.#leave(waiting);
          resolve(value);
        },
        (error: unknown) => {
          this.#leave(waiting);
          reject(error);
        },
      );
    });
  }

  /** Takes `waiting` out of the list (once). */
  #leave(waiting: Waiting): void {
    if (waiting.done) return;
    waiting.done = true;
    const { previous, next } = waiting;
    if (previous === undefined) this.#first = next;
    else previous.next = next;
    if (next === undefined) this.#last = previous;
    else next.previous = previous;
  }

  #arm(ms: number): NodeJS.Timeout {
    const timer = setTimeout(this.#fire, Math.max(1, Math.ceil(ms)));
    timer.unref();
    return timer;
  }

  /** Times out what is due; sets the timer again for the next deadline, if any promise still waits. */
  readonly #fire = (): void => {
    this.#timer = undefined;
    const now = performance.now();
    let waiting = this.#first;
    while (waiting !== undefined && waiting.deadline <= now) {
      this.#leave(waiting);
      waiting.reject(new TimeoutError(this.#what, this.#ms));
      waiting = this.#first;
    }
    if (waiting !== undefined) this.#timer = this.#arm(waiting.deadline - now);
  };
}
