/** The Redis link on its own: attempts behind the circuit breaker, and the logger the cache is given. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FAILED, RedisLink } from '../../src/cache/redis-link.ts';
import { CacheCounters } from '../../src/cache/stats.ts';
import { getLogger, setLogger } from '../../src/shared/logger.ts';
import { TimeoutError } from '../../src/shared/timeout.ts';
import { CacheFixture, capturingLogger } from '../helpers/cache.ts';
import { ChaosDriver } from '../helpers/cache-chaos.ts';
import { openTestRedisDriver } from '../helpers/cache-driver-suite.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
let close: (() => Promise<void>)[] = [];
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  for (const fn of close.splice(0)) await fn();
  await f.cleanup();
});

async function linkOf(threshold = 2) {
  const { driver, cleanup } = await openTestRedisDriver();
  const chaos = new ChaosDriver(driver);
  const counters = new CacheCounters();
  const { logger, lines } = capturingLogger();
  let backs = 0;
  const link = new RedisLink({
    driver: chaos,
    threshold,
    durationMs: 60_000,
    commandTimeoutMs: 1000,
    counters,
    logger,
    logFields: { cache: 'link' },
    onBack: () => backs++,
  });
  close = [...close, () => link.close(), cleanup];
  chaos.reconnect(); // the driver was ready before the link listened: tell it, as a real 'ready' would
  return { link, chaos, counters, lines, backs: () => backs };
}

describe('Redis link', () => {
  it('runs a round trip and hands back its result', async () => {
    const { link } = await linkOf();
    expect(await link.attempt((d) => d.versions(['t']))).toEqual([0]);
    expect([link.reachable, link.everConnected, link.breakerState]).toEqual([true, true, 'closed']);
  });

  it('counts failures, opens after the threshold, then skips Redis without calling it', async () => {
    const { link, chaos, counters, lines } = await linkOf(2);
    const probe = chaos.holdNext('ping', 'request');
    chaos.failNext('read').failNext('read');
    expect(await link.attempt((d) => d.read('k', []))).toBe(FAILED);
    expect(link.breakerState).toBe('closed');
    expect(await link.attempt((d) => d.read('k', []))).toBe(FAILED);
    expect([link.breakerState, link.breakerOpens, link.reachable]).toEqual(['open', 1, false]);
    let called = false;
    expect(
      await link.attempt(async () => {
        called = true;
      }),
    ).toBe(FAILED);
    expect(called).toBe(false);
    expect(counters).toMatchObject({ l2Errors: 2, l2Skipped: 1 });
    expect(lines.map((l) => l.msg)).toEqual(['cache Redis circuit opened; continuing on memory alone']);
    await probe.reached;
    probe.release();
  });

  it('opens at the first timeout, and closes (telling the cache) when the connection is ready again', async () => {
    const { link, chaos, backs } = await linkOf(100);
    chaos.holdNext('ping', 'request');
    const before = backs();
    expect(await link.attempt(() => Promise.reject(new TimeoutError('cache Redis round trip', 1000)))).toBe(
      FAILED,
    );
    expect(link.breakerState).toBe('open');
    chaos.reconnect();
    expect(link.breakerState).toBe('closed');
    expect(backs()).toBeGreaterThan(before);
  });

  it('skips a disconnected Redis at once and opens the circuit, without waiting for timeouts', async () => {
    const { link, chaos, counters } = await linkOf();
    chaos.disconnect();
    expect(await link.attempt((d) => d.read('k', []))).toBe(FAILED);
    expect(counters).toMatchObject({ l2Errors: 0, l2Skipped: 1 });
    expect(link.breakerState).not.toBe('closed');
    expect(chaos.sent).toEqual([]);
  });

  it('uses Redis no more once stopped', async () => {
    const { link, chaos } = await linkOf();
    link.stop();
    expect(await link.attempt((d) => d.read('k', []))).toBe(FAILED);
    expect(chaos.sent).toEqual([]);
  });
});

describe('the logger option', () => {
  it('gets every cache log line; without it, the logger of the moment of creation does', async () => {
    const given = capturingLogger();
    const { cache, l2 } = await f.openChaos({ logger: given.logger });
    const atCreation = capturingLogger();
    const previous = getLogger();
    setLogger(atCreation.logger);
    let defaulted: Awaited<ReturnType<CacheFixture['openChaos']>>;
    try {
      defaulted = await f.openChaos();
    } finally {
      setLogger(previous);
    }
    const later = capturingLogger();
    setLogger(later.logger);
    try {
      for (const { cache: c, l2: driver } of [{ cache, l2 }, defaulted]) {
        driver.disconnect();
        await c.delete('k');
        driver.reconnect();
        await waitFor(() => c.getStats().redis_cache.pending_invalidations === 0, { what: 'the replay' });
      }
    } finally {
      setLogger(previous);
    }
    const expected = [
      'cache Redis circuit opened; continuing on memory alone',
      'cache Redis circuit closed',
      'cache replayed the invalidations made while Redis was away',
    ];
    for (const lines of [given.lines, atCreation.lines]) {
      for (const msg of expected) expect(lines.map((l) => l.msg)).toContain(msg);
    }
    expect(given.lines.find((l) => l.msg === expected[0])).toMatchObject({ cache: cache.name });
    expect(later.lines.filter((l) => String(l.msg).startsWith('cache '))).toEqual([]);
  });
});
