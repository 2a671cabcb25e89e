/**
 * Which alerts the feed shows, and in what order: newest first by the latest occurrence, one entry
 * per record id (a record raised again replaces the one shown), at most a bounded number (the
 * oldest fall off). The feed (`alerts.ts`) keeps its list items in this order. Pure: no DOM, so
 * that it runs (and is tested) under Node as well.
 */

/** Most alerts kept in the page; older ones are dropped. */
export const MAX_SHOWN_ALERTS = 200;

/** What {@link AlertOrder.place} tells the list to do. */
export interface Placement {
  /**
   * Where the record now is, 0 being the top; `undefined` when it is not shown (the list is full of
   * newer ones). Every entry above it is unchanged, so the list item goes before the item now at
   * that position, once the replaced and dropped items are removed.
   */
  readonly index: number | undefined;
  /** Whether a record with the same id was shown (its item is to be removed). */
  readonly replaced: boolean;
  /** Ids of the records that fell off the end (their items are to be removed). */
  readonly dropped: readonly string[];
}

interface Entry {
  readonly id: string;
  /** Latest occurrence, ms since the epoch (NaN: unknown, shown at the top as the newest). */
  readonly lastSeen: number;
}

/** See the module comment. */
export class AlertOrder {
  readonly #max: number;
  /** Newest first. */
  #entries: Entry[] = [];

  /** `max`: most records kept. Default {@link MAX_SHOWN_ALERTS}. */
  constructor(max: number = MAX_SHOWN_ALERTS) {
    this.#max = max;
  }

  /** The ids shown, newest first. */
  ids(): string[] {
    return this.#entries.map((e) => e.id);
  }

  /**
   * Shows record `id`, last seen at `lastSeen` (ms), in place of a shown record with the same id:
   * before every record last seen at the same time or earlier (of two at the same time, the one
   * that arrived last is on top). Past the bound, the oldest records are dropped, which may be
   * this one.
   */
  place(id: string, lastSeen: number): Placement {
    const before = this.#entries.length;
    this.#entries = this.#entries.filter((e) => e.id !== id);
    const replaced = this.#entries.length !== before;
    // Records mostly arrive newest last, so this stops near the top.
    let index = 0;
    while (index < this.#entries.length && (this.#entries[index]?.lastSeen ?? 0) > lastSeen) index++;
    this.#entries.splice(index, 0, { id, lastSeen });
    const dropped = this.#entries.splice(this.#max).map((e) => e.id);
    const shown = index < this.#entries.length;
    return {
      index: shown ? index : undefined,
      replaced,
      dropped: dropped.filter((d) => d !== id),
    };
  }
}
