/**
 * Background recomputations of one key can overlap (an eager refresh and a run past its soft
 * timeout): the key stays marked until the last of them ends.
 */
import { describe, expect, it } from 'vitest';
import { RefreshMarks } from '../../src/cache/refresh-marks.ts';

describe('RefreshMarks', () => {
  it('keeps a key marked until every mark of it is taken away', () => {
    const marks = new RefreshMarks();
    marks.add('k');
    marks.add('k');
    marks.add('other');
    expect(marks.size).toBe(2);
    marks.delete('k');
    expect(marks.has('k')).toBe(true);
    marks.delete('k');
    expect(marks.has('k')).toBe(false);
    expect(marks.size).toBe(1);
  });

  it('ignores taking away a mark that is not there', () => {
    const marks = new RefreshMarks();
    marks.delete('never');
    marks.add('k');
    marks.delete('never');
    expect(marks.has('k')).toBe(true);
    expect(marks.size).toBe(1);
  });
});
