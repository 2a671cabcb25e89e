/** The invalidation log on its own: sequence numbers, pending invalidations, replay and the settle gate. */
import { describe, expect, it } from 'vitest';
import {
  InvalidationLog,
  type InvalidationLogOptions,
  RECENT_INVALIDATIONS,
  type ReplayTarget,
} from '../../src/cache/invalidation-log.ts';
import { capturingLogger } from '../helpers/cache.ts';

function logOf(options: Partial<InvalidationLogOptions> = {}) {
  const { logger, lines } = capturingLogger();
  const log = new InvalidationLog({
    maxPending: 100,
    tagChunk: 32,
    settleTimeoutMs: 60_000,
    everConnected: () => true,
    logger,
    logFields: { cache: 'test' },
    ...options,
  });
  return { log, messages: () => lines.map((line) => line.msg) };
}

/** A replay target that records its calls, fails where told, and can hold its first call. */
function recorder(fail: { invalidate?: boolean; deleteKeys?: boolean } = {}, hold?: Promise<void>) {
  const calls: [string, readonly string[]][] = [];
  const target: ReplayTarget = {
    async invalidate(tags) {
      calls.push(['invalidate', tags]);
      if (hold !== undefined && calls.length === 1) await hold;
      return fail.invalidate !== true;
    },
    async deleteKeys(keys) {
      calls.push(['deleteKeys', keys]);
      return fail.deleteKeys !== true;
    },
  };
  return { target, calls };
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

describe('invalidation log', () => {
  it('numbers invalidations and tells whether a key changed after a read started', () => {
    const { log } = logOf();
    const issued = log.seq;
    log.note('a');
    expect(log.invalidatedSince('a', issued)).toBe(true);
    expect(log.invalidatedSince('b', issued)).toBe(false);
    const later = log.seq;
    expect(later).toBeGreaterThan(issued);
    expect(log.invalidatedSince('a', later)).toBe(false);
    // A global invalidation (a clear, or knowledge lost) counts for every key.
    log.bump(true);
    expect(log.invalidatedSince('b', later)).toBe(true);
    expect(log.invalidatedSince('b', log.seq)).toBe(false);
  });

  it('treats a read older than the remembered window as invalidated, whatever its key', () => {
    const { log } = logOf();
    const old = log.seq;
    for (let i = 0; i <= RECENT_INVALIDATIONS; i++) log.note(`key:${i}`);
    expect(log.invalidatedSince('never-noted', old)).toBe(true);
    expect(log.invalidatedSince('never-noted', log.seq)).toBe(false);
    expect(log.invalidatedSince(`key:${RECENT_INVALIDATIONS}`, log.seq - 1)).toBe(true);
  });

  it('keeps pending keys and tags, lets a write supersede a pending delete, and collapses into a clear past the bound', () => {
    const { log } = logOf({ maxPending: 3 });
    log.pend('key', 'a');
    log.pend('key', 'a');
    log.pend('key', 'b');
    log.pend('tag', 't');
    expect(log.pending).toBe(3);
    log.supersede('a');
    expect(log.pending).toBe(2);
    log.pend('key', 'c');
    log.pend('key', 'd');
    expect(log.pending).toBe(1);
  });

  it('replays the clear, then tags in chunks, then keys, and says so once', async () => {
    const { log, messages } = logOf({ tagChunk: 2 });
    for (const tag of ['t1', 't2', 't3']) log.pend('tag', tag);
    for (const key of ['k1', 'k2']) log.pend('key', key);
    const { target, calls } = recorder();
    await log.replay(target);
    expect(calls).toEqual([
      ['invalidate', ['t1', 't2']],
      ['invalidate', ['t3']],
      ['deleteKeys', ['k1', 'k2']],
    ]);
    expect(log.pending).toBe(0);
    expect(messages()).toEqual(['cache replayed the invalidations made while Redis was away']);

    log.pend('clear', '');
    const cleared = recorder();
    await log.replay(cleared.target);
    expect(cleared.calls).toEqual([['invalidate', ['']]]);
  });

  it('calls what was owed before Redis first connected a start-up send, not an outage', async () => {
    let connected = false;
    const { log, messages } = logOf({ everConnected: () => connected });
    log.pend('key', 'early');
    connected = true;
    await log.replay(recorder().target);
    expect(messages()).toEqual(['cache sent the invalidations made before Redis first connected']);
  });

  it('stops at the first failure and keeps the rest for the next replay', async () => {
    const { log, messages } = logOf();
    log.pend('tag', 't');
    log.pend('key', 'k');
    await log.replay(recorder({ deleteKeys: true }).target);
    expect(log.pending).toBe(1);
    expect(messages()).toEqual([]);
    const { target, calls } = recorder();
    await log.replay(target);
    expect(calls).toEqual([['deleteKeys', ['k']]]);
    expect(log.pending).toBe(0);
  });

  it('makes writes wait at the settle gate until the replay is over, and runs one replay at a time', async () => {
    const { log } = logOf();
    log.pend('tag', 't');
    expect(log.settled()).toBeUndefined();
    const held = gate();
    const { target, calls } = recorder({}, held.promise);
    const events: string[] = [];
    const replaying = log.replay(target).then(() => events.push('replay done'));
    const waiting = log.settled()?.then(() => events.push('write'));
    expect(waiting).toBeDefined();
    await log.replay(target);
    expect(calls).toHaveLength(1);
    held.open();
    await Promise.all([replaying, waiting]);
    expect(events).toEqual(['replay done', 'write']);
    expect(log.settled()).toBeUndefined();
  });

  it('bounds the wait at the settle gate by settleTimeoutMs', async () => {
    const { log } = logOf({ settleTimeoutMs: 20 });
    log.pend('tag', 't');
    const held = gate();
    const events: string[] = [];
    const replaying = log.replay(recorder({}, held.promise).target).then(() => events.push('replay done'));
    await log.settled();
    events.push('write');
    held.open();
    await replaying;
    expect(events).toEqual(['write', 'replay done']);
  });
});
