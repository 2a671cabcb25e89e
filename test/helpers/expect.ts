/** Assertions the tests share. */
import { expect } from 'vitest';

/**
 * The error `promise` rejects with. Fails the test when it resolves instead, or rejects with
 * something that is not a `type`.
 */
export async function rejectionOf<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  let resolved = false;
  const error = await promise.then(
    () => {
      resolved = true;
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(resolved, 'the promise resolved instead of rejecting').toBe(false);
  expect(error).toBeInstanceOf(type);
  return error as E;
}
