/**
 * The page's wait between reconnects, under Node (wait.ts touches no DOM): it resolves when its
 * time is up or when its signal aborts, and leaves neither a timer nor an abort listener behind.
 */
import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { sleep } from '../../src/ui/wait.ts';

afterEach(() => {
  vi.useRealTimers();
});

describe('sleep', () => {
  it('resolves when its time is up, and removes its abort listener', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    let done = false;
    const waiting = sleep(1000, controller.signal).then(() => {
      done = true;
    });
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await waiting;
    // A feed that reconnects many times on one signal must not collect a listener per wait.
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('resolves at once on an abort, and clears its timer', async () => {
    vi.useFakeTimers();
    const controller = new AbortController();
    const waiting = sleep(60_000, controller.signal);
    controller.abort();
    await waiting;
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0);
  });

  it('resolves at once on a signal already aborted, with no timer and no listener', async () => {
    vi.useFakeTimers();
    const signal = AbortSignal.abort();
    await sleep(60_000, signal);
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(signal, 'abort')).toHaveLength(0);
  });
});
