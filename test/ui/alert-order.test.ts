/**
 * The alert feed's order, under Node (alert-order.ts touches no DOM): newest first by the latest
 * occurrence, a record raised again in place of the one shown, and at most 200 records, the oldest
 * falling off.
 */
import { describe, expect, it } from 'vitest';
import { AlertOrder, MAX_SHOWN_ALERTS } from '../../src/ui/alert-order.ts';

const T = Date.UTC(2026, 10, 27, 8, 0, 0);

describe('the alert feed order', () => {
  it('puts the newest first, whatever order the records arrive in', () => {
    const order = new AlertOrder();
    expect(order.place('b', T + 2000)).toEqual({ index: 0, replaced: false, dropped: [] });
    expect(order.place('a', T + 1000)).toEqual({ index: 1, replaced: false, dropped: [] });
    expect(order.place('c', T + 3000)).toEqual({ index: 0, replaced: false, dropped: [] });
    expect(order.place('m', T + 1500)).toEqual({ index: 2, replaced: false, dropped: [] });
    expect(order.ids()).toEqual(['c', 'b', 'm', 'a']);
    // Of two seen at the same time, the one that arrived last is on top.
    expect(order.place('d', T + 2000).index).toBe(1);
    expect(order.ids()).toEqual(['c', 'd', 'b', 'm', 'a']);
    // A time that cannot be read is taken as the newest.
    expect(order.place('x', Number.NaN).index).toBe(0);
  });

  it('replaces a record shown with the same id, moved to where its latest occurrence puts it', () => {
    const order = new AlertOrder();
    order.place('a', T + 1000);
    order.place('b', T + 2000);
    order.place('c', T + 3000);
    // A repeat of `a` folded into its record: seen last now, so on top, and shown once.
    expect(order.place('a', T + 4000)).toEqual({ index: 0, replaced: true, dropped: [] });
    expect(order.ids()).toEqual(['a', 'c', 'b']);
    // Resolved without a later occurrence: it stays where it was.
    expect(order.place('c', T + 3000)).toEqual({ index: 1, replaced: true, dropped: [] });
    expect(order.ids()).toEqual(['a', 'c', 'b']);
  });

  it(`keeps at most ${MAX_SHOWN_ALERTS}, dropping the oldest`, () => {
    const order = new AlertOrder();
    for (let i = 0; i < MAX_SHOWN_ALERTS; i++) {
      expect(order.place(`r${i}`, T + i * 1000).dropped).toEqual([]);
    }
    expect(order.ids()).toHaveLength(MAX_SHOWN_ALERTS);
    // One more, newest: the oldest falls off.
    expect(order.place('new', T + 10_000_000)).toEqual({ index: 0, replaced: false, dropped: ['r0'] });
    expect(order.ids()).toHaveLength(MAX_SHOWN_ALERTS);
    expect(order.ids().at(-1)).toBe('r1');
    // One older than every record shown: not shown, and nothing else dropped.
    expect(order.place('ancient', T - 1000)).toEqual({ index: undefined, replaced: false, dropped: [] });
    expect(order.ids()).not.toContain('ancient');
    // A replacement in a full list drops nothing.
    expect(order.place('r5', T + 20_000_000)).toEqual({ index: 0, replaced: true, dropped: [] });
    expect(order.ids()).toHaveLength(MAX_SHOWN_ALERTS);
  });

  it('takes another bound', () => {
    const order = new AlertOrder(2);
    order.place('a', T + 1);
    order.place('b', T + 2);
    expect(order.place('c', T + 3).dropped).toEqual(['a']);
    expect(order.ids()).toEqual(['c', 'b']);
  });
});
