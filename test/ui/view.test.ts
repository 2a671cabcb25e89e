/**
 * The page's view in its URL, under Node (view.ts touches no DOM): a view written with searchOf
 * reads back as the same view, defaults are left out of the URL, and values the API would refuse
 * fall back to the defaults.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_HOURS, HOURS, readView, searchOf, type View } from '../../src/ui/view.ts';

const DEFAULT: View = {
  service: undefined,
  operation: undefined,
  user_id: undefined,
  hours: DEFAULT_HOURS,
  op: undefined,
};

describe('the view in the URL', () => {
  it('reads back every view it writes', () => {
    const views: View[] = [
      DEFAULT,
      { ...DEFAULT, service: 'shop' },
      { service: 'shop', operation: 'checkout', user_id: 'u-42', hours: 1, op: 'checkout' },
      // Characters a query string must escape, and other scripts.
      { ...DEFAULT, operation: 'GET /orders/:id?x=1&y=2#top', user_id: 'ünïcødé 用户 +%20', hours: 720 },
      { ...DEFAULT, op: 'a b', hours: 168 },
    ];
    for (const view of views) expect(readView(searchOf(view)), searchOf(view)).toEqual(view);
    for (const hours of HOURS) expect(readView(searchOf({ ...DEFAULT, hours })).hours).toBe(hours);
  });

  it('leaves the defaults out of the URL, in a fixed order', () => {
    expect(searchOf(DEFAULT)).toBe('');
    expect(searchOf({ ...DEFAULT, hours: 6 })).toBe('?hours=6');
    expect(searchOf({ service: 'shop', operation: 'a b', user_id: 'u', hours: 1, op: 'a b' })).toBe(
      '?service=shop&operation=a+b&user_id=u&hours=1&op=a+b',
    );
  });

  it('falls back to the defaults for what the API would refuse, and trims names', () => {
    expect(readView('')).toEqual(DEFAULT);
    expect(readView('?hours=5')).toEqual(DEFAULT);
    expect(readView('?hours=abc&service=')).toEqual(DEFAULT);
    expect(readView('?service=%20%20&operation=%20checkout%20')).toEqual({
      ...DEFAULT,
      operation: 'checkout',
    });
    expect(readView(`?operation=${'x'.repeat(300)}`).operation).toBe('x'.repeat(128));
    // Unknown parameters are ignored, the first of a repeated one wins.
    expect(readView('?token=secret&service=a&service=b')).toEqual({ ...DEFAULT, service: 'a' });
  });
});
