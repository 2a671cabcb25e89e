/** Deadlines: `withTimeout` for one promise, `SharedTimeout` for many with the same bound and one timer. */
import { describe, expect, it } from 'vitest';
import { SharedTimeout, TimeoutError, withTimeout } from '../../src/shared/timeout.ts';
import { rejectionOf } from '../helpers/expect.ts';

/** A promise that never settles. */
const never = () => new Promise<never>(() => undefined);

describe('withTimeout', () => {
  it('settles like the promise, or rejects with a TimeoutError naming what was awaited', async () => {
    expect(await withTimeout(Promise.resolve(1), 1000, 'one')).toBe(1);
    const error = await rejectionOf(withTimeout(never(), 5, 'a probe'), TimeoutError);
    expect(error.message).toBe('a probe took longer than 5 ms');
  });
});

describe('SharedTimeout', () => {
  it('settles like each promise, values and errors alike', async () => {
    const shared = new SharedTimeout(1000, 'a round trip');
    const failure = new Error('refused');
    expect(await shared.bound(Promise.resolve('v'))).toBe('v');
    expect(await shared.bound(Promise.reject(failure)).catch((e: unknown) => e)).toBe(failure);
  });

  it('times out every promise still waiting, in the order they came, whichever others settled', async () => {
    const shared = new SharedTimeout(20, 'a round trip');
    const order: string[] = [];
    const waiting = (name: string, promise: Promise<unknown>) =>
      shared.bound(promise).then(
        () => order.push(`${name} settled`),
        (error: unknown) =>
          order.push(error instanceof TimeoutError ? `${name} timed out` : `${name} failed`),
      );
    let settle!: (value: string) => void;
    const settled = new Promise<string>((resolve) => {
      settle = resolve;
    });
    // The middle one settles and leaves; the first and the last still time out.
    const all = [waiting('first', never()), waiting('middle', settled), waiting('last', never())];
    settle('v');
    await Promise.all(all);
    expect(order).toEqual(['middle settled', 'first timed out', 'last timed out']);
  });

  it('times out only what is due: a later promise keeps its own deadline', async () => {
    const shared = new SharedTimeout(200, 'a round trip');
    const first = shared.bound(never());
    // Bound 100 ms later, the second is settled by the first's timeout, before its own deadline.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const second = shared.bound(first.catch(() => 'settled after the first timed out'));
    await rejectionOf(first, TimeoutError);
    expect(await second).toBe('settled after the first timed out');
    // One that never settles times out when its turn comes (the timer is set again for it).
    const third = shared.bound(never());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const fourth = shared.bound(never());
    await rejectionOf(third, TimeoutError);
    await rejectionOf(fourth, TimeoutError);
  });

  it('bounds a promise that comes after others timed out (the timer is set again)', async () => {
    const shared = new SharedTimeout(10, 'a round trip');
    await rejectionOf(shared.bound(never()), TimeoutError);
    const error = await rejectionOf(shared.bound(never()), TimeoutError);
    expect(error.message).toBe('a round trip took longer than 10 ms');
    expect(await shared.bound(Promise.resolve(2))).toBe(2);
  });
});
