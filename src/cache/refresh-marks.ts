/**
 * The keys whose value is being recomputed in the background (an eager refresh, a factory run that
 * outlived its soft timeout, a batch's), during which an expired entry is served stale within grace
 * instead of starting another factory. Several of these can overlap on one key: each mark is
 * counted, and the key stays marked until every one that marked it is done.
 */
export class RefreshMarks {
  readonly #counts = new Map<string, number>();

  /** Keys marked now (the single-flight table's bound counts them). */
  get size(): number {
    return this.#counts.size;
  }

  /** Whether `key` is being recomputed in the background. */
  has(key: string): boolean {
    return this.#counts.has(key);
  }

  /** Marks `key`; every call must be followed by one {@link delete} when that work is done. */
  add(key: string): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + 1);
  }

  /** Takes one mark of `key` away; the key is unmarked when its last mark is. */
  delete(key: string): void {
    const n = this.#counts.get(key);
    if (n === undefined) return;
    if (n <= 1) this.#counts.delete(key);
    else this.#counts.set(key, n - 1);
  }
}
