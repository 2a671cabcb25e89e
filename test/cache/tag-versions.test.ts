/** Tag versions on their own: what is learnt, when it is trusted, snapshots, and invalidation. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CacheOptions } from '../../src/cache/index.ts';
import { InvalidationLog } from '../../src/cache/invalidation-log.ts';
import { INVALID, TagVersions, UNKNOWN, VALID } from '../../src/cache/tags.ts';
import { CacheFixture, capturingLogger } from '../helpers/cache.ts';
import { waitFor } from '../helpers/wait.ts';

let f: CacheFixture;
beforeEach(() => {
  f = new CacheFixture();
});
afterEach(async () => {
  await f.cleanup();
});

function memoryTags(maxTracked = 10) {
  const log = new InvalidationLog({
    maxPending: 10,
    tagChunk: 10,
    settleTimeoutMs: 1000,
    everConnected: () => true,
    logger: capturingLogger().logger,
    logFields: {},
  });
  return { log, tags: new TagVersions({ maxTracked, tagCheckIntervalMs: 1000, log }) };
}

/** An entry carrying the given versions (the rest of it does not matter to tags). */
function entry(globalVersion: number, tags: string[], versions: number[]) {
  return { value: 1, freshUntil: 0, staleUntil: 0, globalVersion, tags, versions, bytes: 1, retryAt: 0 };
}

/** Redis-mode collaborators with a chaos driver and bus, connected. */
async function redisParts(options: CacheOptions = {}) {
  const made = await f.chaosParts(options);
  return { ...made, tags: made.parts.tags };
}

describe('tag versions, memory-only', () => {
  it('learns a version read from Redis unless an invalidation seen after the read left changed it', () => {
    const { log, tags } = memoryTags();
    const issued = log.seq;
    tags.set('a', { version: 5, epoch: 0, at: 0, seq: log.bump(false) });
    tags.learn('a', 3, issued, 0, performance.now());
    expect(tags.get('a')?.version).toBe(5);
    tags.learn('a', 7, log.seq, 0, performance.now());
    expect(tags.get('a')?.version).toBe(7);
  });

  it('knows the prefix version from the start, and hands out versions never used before', async () => {
    const { tags } = memoryTags(1);
    expect(tags.get('')?.version).toBe(0);
    const first = await tags.current(['a']);
    expect(first).toEqual({ global: 0, versions: [expect.any(Number)] });
    const stored = entry(0, ['a'], [...first.versions]);
    expect(tags.validity(stored, performance.now())).toBe(VALID);
    await tags.invalidate(['a']);
    expect(tags.validity(stored, performance.now())).toBe(INVALID);
    // Forgotten (maxTracked 1) and learnt again: a new version, never the old one back.
    await tags.current(['b']);
    const again = await tags.current(['a']);
    expect(again.versions[0]).not.toBe(first.versions[0]);
    expect(tags.validity(stored, performance.now())).toBe(INVALID);
  });

  it('treats a forgotten tag as invalid (its version is lost for good), and is trustworthy only when valid', async () => {
    const { tags } = memoryTags(1);
    const snapshot = await tags.current(['a']);
    await tags.current(['b']);
    const validity = tags.validity(entry(0, ['a'], [...snapshot.versions]), performance.now());
    expect(validity).toBe(INVALID);
    expect(tags.trustworthy(validity)).toBe(false);
    expect(tags.trustworthy(VALID)).toBe(true);
  });

  it('invalidates the prefix with the empty tag, and adopts versions from the bus', async () => {
    const { log, tags } = memoryTags();
    const before = log.seq;
    await tags.invalidate(['']);
    expect(tags.validity(entry(0, [], []), performance.now())).toBe(INVALID);
    expect(log.invalidatedSince('any key', before)).toBe(true);
    tags.adopt([['t', 42]]);
    expect(tags.get('t')).toMatchObject({ version: 42, seq: log.seq });
  });
});

describe('tag versions, with Redis', () => {
  it('trusts a version while the bus is connected, in the epoch it was learnt in only', async () => {
    const { tags, bus } = await redisParts();
    const known = { version: 1, epoch: tags.epoch, at: performance.now(), seq: 0 };
    expect(tags.trusted(known, performance.now())).toBe(true);
    bus.reconnect();
    expect(tags.trusted(known, performance.now())).toBe(false);
    expect(tags.trusted({ ...known, epoch: tags.epoch }, performance.now())).toBe(true);
  });

  it('while the bus is down, trusts a version for tagCheckIntervalMs only', async () => {
    const { tags, bus } = await redisParts({ tagCheckIntervalMs: 60_000 });
    bus.disconnect();
    const now = performance.now();
    expect(tags.trusted({ version: 1, epoch: 0, at: now, seq: 0 }, now)).toBe(true);
    expect(tags.trusted({ version: 1, epoch: 0, at: now - 60_001, seq: 0 }, now)).toBe(false);
  });

  it('calls an entry unknown without trusted knowledge, served only while Redis cannot be asked', async () => {
    const { tags, l2 } = await redisParts();
    tags.clear();
    const validity = tags.validity(entry(0, ['t'], [0]), performance.now());
    expect(validity).toBe(UNKNOWN);
    expect(tags.trustworthy(validity)).toBe(false);
    l2.disconnect();
    expect(tags.trustworthy(validity)).toBe(true);
  });

  it('fetches what it does not trust from Redis, learns it, and reads an entry tag it was not asked for', async () => {
    const { tags, l2 } = await redisParts();
    const other = await redisParts();
    await other.tags.invalidate(['t', 'u']);
    const [t = 0, u = 0] = [other.tags.get('t')?.version, other.tags.get('u')?.version];
    expect(t).toBeGreaterThan(0);
    const snapshot = await tags.current(['t']);
    expect(snapshot.versions).toEqual([t]);
    expect(tags.get('t')?.version).toBe(t);
    expect(l2.sent).toContain('versions');
    // 't' from the read, 'u' with one more round trip.
    expect(await tags.of(['t', 'u'], ['t'], [t])).toEqual([t, u]);
  });

  it('invalidates with a local version while Redis is away, and adopts the real one on replay', async () => {
    const { parts, tags, l2 } = await redisParts();
    l2.disconnect();
    await tags.invalidate(['t']);
    expect(tags.get('t')?.version).toBeLessThan(0);
    expect(parts.log.pending).toBe(1);
    l2.reconnect();
    await waitFor(() => parts.log.pending === 0, { what: 'the replay' });
    expect(tags.get('t')?.version).toBeGreaterThan(0);
    expect(Number(await f.redis.get(`${f.prefix}t:t`))).toBe(tags.get('t')?.version);
  });
});
