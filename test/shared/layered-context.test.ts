/**
 * The layered context against the API's own: the same values through the same calls, one layer
 * while it is built, as immutable as the API's afterwards.
 */
import { type Context, createContextKey, ROOT_CONTEXT } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { layeredContext } from '../../src/shared/layered-context.ts';

const A = createContextKey('layered test a');
const B = createContextKey('layered test b');
const C = createContextKey('layered test c');
const KEYS = [A, B, C];

const valuesOf = (context: Context) => KEYS.map((key) => context.getValue(key));

describe('layeredContext', () => {
  const parent = ROOT_CONTEXT.setValue(A, 'parent a').setValue(C, 'parent c');
  const steps = (draft: Context) => draft.setValue(B, 'b').setValue(A, 'a').deleteValue(C);

  it('gives the values the same calls give on the API context', () => {
    const layered = layeredContext(parent, steps);
    expect(valuesOf(layered)).toEqual(valuesOf(steps(parent)));
    expect(valuesOf(layered)).toEqual(['a', 'b', undefined]);
    // The parent is left as it was.
    expect(valuesOf(parent)).toEqual(['parent a', undefined, 'parent c']);
  });

  it('is one context while it is built, and immutable once built', () => {
    let draft: Context | undefined;
    const layered = layeredContext(parent, (d) => {
      draft = d;
      expect(d.setValue(B, 'b')).toBe(d);
      return d;
    });
    expect(layered).toBe(draft);
    const later = layered.setValue(B, 'later').deleteValue(A);
    expect(later).not.toBe(layered);
    expect(valuesOf(layered)).toEqual(['parent a', 'b', 'parent c']);
    expect(valuesOf(later)).toEqual([undefined, 'later', 'parent c']);
    const deleted = layered.deleteValue(C);
    expect(valuesOf(deleted)).toEqual(['parent a', 'b', undefined]);
    expect(valuesOf(layered)).toEqual(['parent a', 'b', 'parent c']);
  });

  it('is sealed even when the build throws', () => {
    let draft: Context | undefined;
    expect(() =>
      layeredContext(parent, (d) => {
        draft = d;
        throw new Error('build failed');
      }),
    ).toThrow('build failed');
    expect(draft?.setValue(B, 'x')).not.toBe(draft);
  });
});
