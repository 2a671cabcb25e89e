/** The factory runner on its own: single flight, the soft and hard timeouts, grace and its backoff. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ResolvedCallOptions } from '../../src/cache/call-options.ts';
import { CacheFactoryTimeoutError } from '../../src/cache/errors.ts';
import { isStale, MISS, type Stale } from '../../src/cache/two-level.ts';
import { CacheFixture, callOptions } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

/** Per-call options with a 60 s grace. */
const call = (over: Partial<ResolvedCallOptions> = {}) => callOptions({ graceMs: 60_000, ...over });

function gate<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Parts holding `key` = `value`, expired and within its grace: the stale candidate memory gives. */
async function withStale(options: Parameters<CacheFixture['parts']>[0], key: string, value: string) {
  const parts = f.parts(options);
  await parts.levels.store(key, value, call({ ttlMs: 1 }), { global: 0, versions: [] }, undefined);
  const stale = await waitFor(() => {
    const found = parts.levels.memoryLookup(key, 60_000, parts.runner.refreshing);
    return found !== undefined && isStale(found) ? found : undefined;
  });
  return { parts, stale: stale as Stale };
}

describe('factory runner', () => {
  it('runs one factory per key for concurrent calls, and caches its result', async () => {
    const { runner, levels, counters } = f.parts();
    const release = gate<string>();
    let runs = 0;
    const factory = () => {
      runs++;
      return release.promise;
    };
    const calls = [runner.run('k', factory, call(), undefined), runner.run('k', factory, call(), undefined)];
    await waitFor(() => runs === 1 && runner.inFlight === 1);
    release.open('value');
    expect(await Promise.all(calls)).toEqual(['value', 'value']);
    expect(counters).toMatchObject({ runs: 1, coalesced: 1 });
    expect(runner.inFlight).toBe(0);
    expect(levels.memoryGet('k')).toBe('value');
  });

  it('runs a factory of its own, uncoalesced, when the single-flight table is full', async () => {
    const { runner, counters } = f.parts({ maxPendingFactories: 1 });
    const release = gate<string>();
    const first = runner.run('a', () => release.promise, call(), undefined);
    await waitFor(() => runner.inFlight === 1);
    expect(await runner.run('b', () => 'b', call(), undefined)).toBe('b');
    expect(counters.uncoalesced).toBe(1);
    release.open('a');
    expect(await first).toBe('a');
  });

  it('fails past the hard timeout with nothing stale, aborting the signal; a late result is dropped', async () => {
    const { runner, levels, counters } = f.parts({ factoryHardTimeoutMs: 30 });
    let signal: AbortSignal | undefined;
    const never = gate<string>();
    const running = runner.run(
      'k',
      (context) => {
        signal = context.signal;
        return never.promise;
      },
      call(),
      undefined,
    );
    await expect(running).rejects.toBeInstanceOf(CacheFactoryTimeoutError);
    expect(signal?.aborted).toBe(true);
    never.open('late');
    // Another run through the same table after the late result: it had every chance to be stored.
    expect(await runner.run('other', () => 'x', call(), undefined)).toBe('x');
    expect(levels.memoryGet('k')).toBe(MISS);
    expect(counters.hardTimeouts).toBe(1);
  });

  it('serves the stale value past the soft timeout and caches the result when it arrives', async () => {
    const { parts, stale } = await withStale({ graceSeconds: 60, factorySoftTimeoutMs: 10 }, 'k', 'old');
    const { runner, levels, counters } = parts;
    const release = gate<string>();
    let seen: unknown;
    const value = await runner.run(
      'k',
      ({ staleValue }) => {
        seen = staleValue;
        return release.promise;
      },
      call(),
      stale,
    );
    expect([value, seen]).toEqual(['old', 'old']);
    expect(runner.refreshing.has('k')).toBe(true);
    expect(counters).toMatchObject({ softTimeouts: 1, l1Stale: 1 });
    release.open('new');
    await waitFor(() => levels.memoryGet('k') === 'new', { what: 'the background result' });
    expect(runner.refreshing.has('k')).toBe(false);
  });

  it('serves the stale value when the factory fails, then keeps it without calling the factory for the backoff', async () => {
    const { parts, stale } = await withStale({ graceSeconds: 60, graceBackoffSeconds: 60 }, 'k', 'old');
    const { runner, levels, counters } = parts;
    const value = await runner.run(
      'k',
      () => {
        throw new Error('backend down');
      },
      call(),
      stale,
    );
    expect(value).toBe('old');
    expect(counters.factoryErrors).toBe(1);
    const again = levels.memoryLookup('k', 60_000, runner.refreshing);
    expect(again !== undefined && !isStale(again) && again.value).toBe('old');
  });

  it('rethrows a factory error unchanged when nothing stale exists', async () => {
    const { runner } = f.parts();
    const boom = new Error('boom');
    await expect(
      runner.run(
        'k',
        () => {
          throw boom;
        },
        call(),
        undefined,
      ),
    ).rejects.toBe(boom);
  });

  it('takes versions before the factory runs: a tag invalidated meanwhile makes the result invalid on arrival', async () => {
    const { runner, levels, tags } = f.parts();
    const release = gate<string>();
    let started = false;
    const running = runner.run(
      'k',
      () => {
        started = true;
        return release.promise;
      },
      call({ tags: ['orders'] }),
      undefined,
    );
    await waitFor(() => started);
    await tags.invalidate(['orders']);
    release.open('computed from old data');
    expect(await running).toBe('computed from old data');
    expect(levels.memoryGet('k')).toBe(MISS);
  });

  it('aborts every running factory on abortAll', async () => {
    const { runner } = f.parts();
    const signals: AbortSignal[] = [];
    const never = gate<string>();
    for (const key of ['a', 'b']) {
      void runner
        .run(
          key,
          ({ signal }) => {
            signals.push(signal);
            return never.promise;
          },
          call(),
          undefined,
        )
        .catch(() => undefined);
    }
    await waitFor(() => signals.length === 2);
    runner.abortAll(new Error('closing'));
    expect(signals.map((s) => s.aborted)).toEqual([true, true]);
    never.open('late');
  });
});
