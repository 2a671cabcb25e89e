/**
 * The alert sink's buffer: a double-ended queue on a ring of slots. Adding at the tail, taking from
 * the head, putting back at the head and dropping the oldest are all O(1) (amortised over growth),
 * where `Array.prototype.shift` and `unshift` move every element: at 50,000 alerts/s that turned
 * each drop of a full 10,000-record buffer into a copy of the buffer.
 *
 * The queue enforces no bound itself; the sink trims it to `bufferMax` and counts what it drops.
 */

/** Slots a new or emptied queue starts with (a power of two, so that positions wrap with a mask). */
const INITIAL_CAPACITY = 16;
/**
 * Past this many slots an emptied queue gives its ring back: a burst that filled a large buffer
 * must not keep it allocated for the life of the process.
 */
const RELEASE_CAPACITY = 1024;

/** See the module comment. */
export class RingQueue<T> {
  #slots: (T | undefined)[] = new Array<T | undefined>(INITIAL_CAPACITY);
  #mask = INITIAL_CAPACITY - 1;
  #head = 0;
  #length = 0;

  /** Items in the queue. */
  get length(): number {
    return this.#length;
  }

  /** Adds `item` at the tail (newest). */
  push(item: T): void {
    if (this.#length === this.#slots.length) this.#grow();
    this.#slots[(this.#head + this.#length) & this.#mask] = item;
    this.#length++;
  }

  /** Puts `item` back at the head (it becomes the oldest). */
  unshift(item: T): void {
    if (this.#length === this.#slots.length) this.#grow();
    this.#head = (this.#head - 1) & this.#mask;
    this.#slots[this.#head] = item;
    this.#length++;
  }

  /** Removes and returns the head (oldest) item, or `undefined` when empty. */
  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#slots[this.#head];
    // Cleared so that the ring does not keep a taken record alive.
    this.#slots[this.#head] = undefined;
    this.#head = (this.#head + 1) & this.#mask;
    this.#length--;
    if (this.#length === 0) this.#reset();
    return item;
  }

  /** Removes up to `count` items from the head and returns them, oldest first. */
  take(count: number): T[] {
    const n = Math.min(count, this.#length);
    const out = new Array<T>(n);
    for (let i = 0; i < n; i++) {
      const at = (this.#head + i) & this.#mask;
      out[i] = this.#slots[at] as T;
      this.#slots[at] = undefined;
    }
    this.#head = (this.#head + n) & this.#mask;
    this.#length -= n;
    if (this.#length === 0) this.#reset();
    return out;
  }

  /** Doubles the ring, keeping the order: the head moves to slot 0. */
  #grow(): void {
    const old = this.#slots;
    const slots = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.#length; i++) slots[i] = old[(this.#head + i) & this.#mask];
    this.#slots = slots;
    this.#mask = slots.length - 1;
    this.#head = 0;
  }

  /** Called when the queue has just become empty. */
  #reset(): void {
    this.#head = 0;
    if (this.#slots.length > RELEASE_CAPACITY) {
      this.#slots = new Array<T | undefined>(INITIAL_CAPACITY);
      this.#mask = INITIAL_CAPACITY - 1;
    }
  }
}
