/**
 * The minute, hour and day hashes of the rollups against the real Redis: the plan of a window, the
 * same totals as the per-operation day hashes for random data and windows, the day hashes read for
 * minutes before the first tier write, and the version that readers reuse reads by.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { activityOfService } from '../../src/telemetry/activity.ts';
import { type DurationAggregate, emptyAggregate } from '../../src/telemetry/aggregate.ts';
import type { PendingMinute } from '../../src/telemetry/minutes.ts';
import { RedisRollupStore, type RollupQuery } from '../../src/telemetry/rollup.ts';
import { planTiers, tierKeyName } from '../../src/telemetry/rollup-tiers.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { deleteKeys } from '../helpers/telemetry.ts';

const redis = new Redis(TEST_REDIS_URL);
const prefixes: string[] = [];
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  redis.disconnect();
});

function storeFor(maxOperations = 100): { store: RedisRollupStore; prefix: string } {
  const prefix = `test:${randomUUID()}:`;
  prefixes.push(prefix);
  return {
    store: new RedisRollupStore({ client: redis, keyPrefix: prefix, retentionDays: 40, maxOperations }),
    prefix,
  };
}

/** A deterministic pseudo-random sequence (so that a failure can be replayed). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648;
    return state / 2_147_483_648;
  };
}

function aggregate(next: () => number): DurationAggregate {
  const a = emptyAggregate(true);
  a.count = 1 + Math.floor(next() * 5);
  a.errors = Math.floor(next() * 2);
  a.breaches = Math.floor(next() * 2);
  a.frustrated = 0;
  a.max = Math.round(next() * 1000) / 1000 + 0.001;
  a.sum = a.max * a.count;
  // Every third minute without a minimum, as an OTLP exporter that sends none would write.
  a.min = next() < 0.33 ? undefined : a.max / 2;
  a.buckets.set(0.1, Math.floor(a.count / 2));
  a.buckets.set(a.max > 0.5 ? 1 : 0.5, a.count - Math.floor(a.count / 2));
  return a;
}

const day = 1440;
const base = Math.floor(Date.UTC(2026, 9, 1, 0, 0) / 60_000);

/**
 * Runs `body` with the clock at noon UTC today (so that no day turns past between two reads), with
 * a store and a `write(op, minute)` of one random minute of one operation.
 */
async function atNoon(
  seed: number,
  body: (at: {
    store: RedisRollupStore;
    prefix: string;
    today: number;
    now: number;
    write: (op: string, minute: number) => Promise<unknown>;
  }) => Promise<void>,
): Promise<void> {
  const { store, prefix } = storeFor();
  const next = random(seed);
  const today = Math.floor(Date.now() / 60_000 / day) * day;
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime((today + 720) * 60_000);
  try {
    const write = (op: string, minute: number) =>
      store.write(
        [{ minute, operations: new Map([[op, aggregate(next)]]), users: new Map() }],
        () => undefined,
      );
    await body({ store, prefix, today, now: today + 720, write });
  } finally {
    vi.useRealTimers();
  }
}

describe('planTiers', () => {
  it('covers exactly the window, coarsest first, and takes the last hour or day whole when open', () => {
    for (const [from, to] of [
      [base + 37, base + 37],
      [base + 37, base + 3 * day + 600 + 12],
      [base, base + day - 1],
      [base + 59, base + 61],
      [base + day - 1, base + day],
    ] as const) {
      const plan = planTiers(from, to, false);
      expect(plan[0]?.start).toBe(from);
      expect(plan.at(-1)?.end).toBe(to);
      for (let i = 1; i < plan.length; i++) expect(plan[i]?.start).toBe((plan[i - 1]?.end ?? 0) + 1);
    }
    expect(planTiers(base, base + day - 1, false)).toEqual([
      { level: 'day', start: base, end: base + day - 1 },
    ]);
    // A window of 24 whole hours ending now, at 14:37: 22 minutes, 9 hours, then today whole.
    const now = base + 2 * day + 14 * 60 + 37;
    const plan = planTiers(now - 24 * 60 + 1, now, true);
    expect(plan.filter((p) => p.level === 'minute')).toHaveLength(22);
    expect(plan.filter((p) => p.level === 'hour')).toHaveLength(9);
    expect(plan.at(-1)).toEqual({ level: 'day', start: base + 2 * day, end: base + 3 * day - 1 });
    // 30 days ending now: at most 59 minutes, 23 hours and one hash per day.
    expect(planTiers(now - 720 * 60 + 1, now, true).length).toBeLessThanOrEqual(59 + 23 + 31);
  });

  it('names a hash by its level and UTC time', () => {
    const at = Math.floor(Date.UTC(2026, 10, 27, 9, 5) / 60_000);
    expect(tierKeyName('minute', at)).toBe('metrics_by_minute:2026-11-27T0905');
    expect(tierKeyName('hour', at)).toBe('metrics_by_hour:2026-11-27T09');
    expect(tierKeyName('day', at)).toBe('metrics_by_day:2026-11-27');
  });
});

describe('RedisRollupStore tiers', () => {
  beforeAll(async () => {
    await redis.ping();
  });

  it('reads the same totals from the tier hashes as from the day hashes, for random data and windows', async () => {
    const { store } = storeFor();
    const next = random(7);
    const ops = ['a', 'b|piped', 'c {odd} name'];
    const minutes: PendingMinute[] = [];
    for (let i = 0; i < 160; i++) {
      const at = base + Math.floor(next() * 4 * day);
      minutes.push({
        minute: at,
        operations: new Map(ops.filter(() => next() < 0.6).map((op) => [op, aggregate(next)])),
        users: new Map(),
        services: new Map([['svc', { operations: new Map([['x', aggregate(next)]]), users: new Map() }]]),
      });
    }
    minutes.sort((a, b) => a.minute - b.minute);
    for (let i = 0; i < minutes.length; i += 40) {
      expect(await store.write(minutes.slice(i, i + 40), (op) => (op === 'a' ? 0.25 : undefined))).toEqual(
        [],
      );
    }
    // Some minutes written again by a writer that knows no minimum: their minimum is unknown.
    for (const m of minutes.filter(() => next() < 0.1)) {
      const again = aggregate(next);
      again.min = undefined;
      await store.write(
        [{ minute: m.minute, operations: new Map([['a', again]]), users: new Map() }],
        () => 0.25,
      );
    }
    for (let w = 0; w < 25; w++) {
      const from = base + Math.floor(next() * 4 * day);
      const to = Math.min(base + 4 * day, from + Math.floor(next() * 3 * day));
      const all = await store.read({ fromMinute: from, toMinute: to });
      let first: number | undefined;
      for (const op of ops) {
        // An operation's own read comes from its day hashes.
        const one = await store.read({ fromMinute: from, toMinute: to, operation: op });
        const expected = one.operations.get(op);
        const got = all.operations.get(op);
        expect(got === undefined, `${op} in ${from}..${to}`).toBe(expected === undefined);
        if (!expected || !got) continue;
        expect({ ...got, sum: got.sum.toFixed(6) }).toEqual({ ...expected, sum: expected.sum.toFixed(6) });
        if (one.firstMinute !== undefined && (first === undefined || one.firstMinute < first)) {
          first = one.firstMinute;
        }
        expect(all.targets.get(op)).toBe(one.targets.get(op));
      }
      expect(all.firstMinute).toBe(first);
      const svc = await store.read({ fromMinute: from, toMinute: to, service: 'svc' });
      const svcOne = await store.read({ fromMinute: from, toMinute: to, service: 'svc', operation: 'x' });
      expect(svc.operations.get('x')?.count).toBe(svcOne.operations.get('x')?.count);
      // A report takes a service's activity from its unfiltered read instead of its summaries: the
      // same runs, errors and breaches; the operations that ran in the window (the summaries also
      // name those that ran later the same day, which a window ending now has none of).
      const summaries = await store.readActivity(from, to);
      const fromRead = activityOfService(undefined, all.operations).own;
      const { operations: ran, ...counts } = fromRead ?? {
        operations: new Set(),
        count: 0,
        errors: 0,
        breaches: 0,
      };
      expect(counts, `activity in ${from}..${to}`).toEqual({
        count: summaries.own?.count ?? 0,
        errors: summaries.own?.errors ?? 0,
        breaches: summaries.own?.breaches ?? 0,
      });
      for (const op of ran) expect(summaries.own?.operations.has(op), op).toBe(true);
      const skipped = await store.readActivity(from, to, { service: undefined });
      expect(skipped.own).toBeUndefined();
      expect(skipped.services.get('svc')).toEqual(summaries.services.get('svc'));
    }
  });

  it('reads the minutes before the first tier write from the day hashes', async () => {
    const { store, prefix } = storeFor();
    const next = random(11);
    const early = base + 100;
    const late = base + day + 100;
    await store.write(
      [{ minute: early, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => undefined,
    );
    await store.write(
      [{ minute: late, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => undefined,
    );
    const before = await store.read({ fromMinute: base, toMinute: base + 2 * day });
    // As if the early minute had been written before the tiers existed: only its day hash holds it.
    for (const level of ['minute', 'hour', 'day'] as const)
      await redis.del(`${prefix}${tierKeyName(level, early)}`);
    await redis.set(`${prefix}rollup_tiers_since`, String(late));
    const fresh = new RedisRollupStore({
      client: redis,
      keyPrefix: prefix,
      retentionDays: 40,
      maxOperations: 100,
    });
    const after = await fresh.read({ fromMinute: base, toMinute: base + 2 * day });
    expect(after.operations.get('op')).toEqual(before.operations.get('op'));
    expect(after.firstMinute).toBe(early);
    // Without the split the early minute is gone from the tiers: the day hashes are what kept it.
    await redis.set(`${prefix}rollup_tiers_since`, String(early));
    const tiersOnly = new RedisRollupStore({
      client: redis,
      keyPrefix: prefix,
      retentionDays: 40,
      maxOperations: 100,
    });
    const lost = await tiersOnly.read({ fromMinute: base, toMinute: base + 2 * day });
    expect(lost.operations.get('op')?.count).toBeLessThan(before.operations.get('op')?.count ?? 0);
  });

  it('keeps at most maxOperations operations from hashes shared by many writers', async () => {
    const { store } = storeFor(3);
    const next = random(5);
    const operations = new Map([...Array(8).keys()].map((i) => [`op_${i}`, aggregate(next)] as const));
    await store.write([{ minute: base + 10, operations, users: new Map() }], () => undefined);
    expect((await store.read({ fromMinute: base, toMinute: base + day })).operations.size).toBe(3);
  });

  it('skips tier values that are not packed aggregates, and reads the rest of the hash', async () => {
    const { store, prefix } = storeFor();
    const good = aggregate(random(11));
    good.buckets.set(Number.POSITIVE_INFINITY, 2);
    good.count += 2;
    await store.write([{ minute: base, operations: new Map([['good', good]]), users: new Map() }], () => 0.5);
    const key = `${prefix}${tierKeyName('hour', base)}`;
    // What another writer or a hand edit could leave: too few or too many fields, no count, text,
    // a zero count, and buckets that are not `bound=count` (those are skipped one by one).
    await redis.hset(key, {
      few: '1,0,0',
      many: '1,0,0,0,1,1,1,0,0,0,9',
      empty: '',
      words: 'a,b,c,d,e,f,g,h,i,j',
      zero: '0,0,0,0,0,0,0,0,0,0;1=1',
      'odd buckets': '2,1,0,0,0.5,0.3,0.2,0,0,0.25;=1,x=2,0.5=,0.25=1,+Inf=1,1=y',
    });
    const read = await store.read({ fromMinute: base, toMinute: base + 59 });
    expect([...read.operations.keys()].sort()).toEqual(['good', 'odd buckets']);
    expect(read.operations.get('good')).toEqual(
      (await store.read({ fromMinute: base, toMinute: base + 59, operation: 'good' })).operations.get('good'),
    );
    expect(read.operations.get('odd buckets')).toMatchObject({
      count: 2,
      errors: 1,
      sum: 0.5,
      max: 0.3,
      min: 0.2,
    });
    expect([...(read.operations.get('odd buckets')?.buckets ?? [])]).toEqual([
      [0.25, 1],
      [Number.POSITIVE_INFINITY, 1],
    ]);
    expect(read.targets.get('odd buckets')).toBe(0.25);
  });

  it('changes its version with every write, so that readers know when to read again', async () => {
    const { store } = storeFor();
    const next = random(3);
    const v0 = await store.version();
    await store.write(
      [{ minute: base, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => undefined,
    );
    const v1 = await store.version();
    expect(v1).not.toBe(v0);
    expect(await store.version()).toBe(v1);
  });

  it('reuses the merge of whole past days until a late write reaches one of them', async () => {
    await atNoon(13, async ({ store, prefix, today, now, write }) => {
      // Before the window, so that the window's days are all read from the tier hashes.
      await write('op', today - 6 * day);
      for (const minute of [today - 3 * day + 30, today - 2 * day + 30, today - day + 30])
        await write('op', minute);
      const window = { fromMinute: now - 96 * 60 + 1, toMinute: now };
      const first = await store.read(window);
      // Reused: a field put in a past day's hash behind the store's back is not read.
      await redis.hset(`${prefix}${tierKeyName('day', today - 2 * day)}`, 'ghost', '1,0,0,0,1,1,1,0,0,;');
      expect((await store.read(window)).operations.has('ghost')).toBe(false);
      // A late write into a past day is seen by the next read, which merges the days again.
      await write('op', today - 2 * day + 31);
      const after = await store.read(window);
      expect(after.operations.has('ghost')).toBe(true);
      const fromDays = await store.read({ ...window, operation: 'op' });
      expect(after.operations.get('op')?.count).toBe(fromDays.operations.get('op')?.count);
      expect(after.operations.get('op')?.count).toBeGreaterThan(first.operations.get('op')?.count ?? 0);
    });
  });

  it('parses a tier hash once: until a late write when it ended a while ago, else until any write', async () => {
    await atNoon(17, async ({ store, prefix, today, now, write }) => {
      await write('op', today - day);
      // 10:20 and 11:05 today: the 10:00 hour and 11:05 minute hashes ended over 30 minutes ago.
      await write('op', today + 620);
      await write('op', today + 665);
      // A window from 10:00 reads the 10:00 hour hash; one from 11:05, minute hashes of 11:xx.
      const windows = [today + 600, today + 665].map((from) => ({ fromMinute: from, toMinute: now }));
      const first = await Promise.all(windows.map((w) => store.read(w)));
      // Kept: fields put behind the store's back into those hashes are not read again...
      await redis.hset(`${prefix}${tierKeyName('hour', today + 600)}`, 'ghost', '1,0,0,0,1,1,1,0,0,;');
      await redis.hset(`${prefix}${tierKeyName('minute', today + 665)}`, 'ghost', '1,0,0,0,1,1,1,0,0,;');
      for (const w of windows) expect((await store.read(w)).operations.has('ghost')).toBe(false);
      // ...and the last half hour's (read for the second window) until any instance writes, while
      // what ended a while ago is kept across writes that are not late.
      await redis.hset(`${prefix}${tierKeyName('minute', now - 10)}`, 'recent', '1,0,0,0,1,1,1,0,0,;');
      const recent = { fromMinute: now - 10, toMinute: now };
      expect((await store.read(recent)).operations.has('recent')).toBe(false);
      await write('other', now - 1);
      expect((await store.read(recent)).operations.has('recent')).toBe(true);
      for (const w of windows) expect((await store.read(w)).operations.has('ghost')).toBe(false);
      // A late write (a minute over 15 minutes old, here in today's 10:00 hour) lets go of them all.
      await write('op', today + 630);
      const after = await Promise.all(windows.map((w) => store.read(w)));
      for (const a of after) expect(a.operations.has('ghost')).toBe(true);
      expect(after[0]?.operations.get('op')?.count).toBeGreaterThan(
        first[0]?.operations.get('op')?.count ?? 0,
      );
      const fromDays = await store.read({ ...windows[0], operation: 'op' } as RollupQuery);
      expect(after[0]?.operations.get('op')?.count).toBe(fromDays.operations.get('op')?.count);
    });
  });

  it('reports the latest target of the window, whichever hashes it was read from', async () => {
    const { store } = storeFor();
    const next = random(19);
    const today = Math.floor(Date.now() / 60_000 / day) * day;
    await store.write(
      [{ minute: today - 4 * day, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => 1,
    );
    await store.write(
      [{ minute: today - 3 * day + 1400, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => 0.5,
    );
    await store.write(
      [{ minute: today - 2 * day + 100, operations: new Map([['op', aggregate(next)]]), users: new Map() }],
      () => 0.25,
    );
    const window = { fromMinute: today - 3 * day + 1390, toMinute: Math.floor(Date.now() / 60_000) };
    expect((await store.read(window)).targets.get('op')).toBe(0.25);
    expect((await store.read({ ...window, operation: 'op' })).targets.get('op')).toBe(0.25);
  });

  it('writes a minute of more operations than one pipeline carries, every one of them', async () => {
    const { store } = storeFor(5000);
    const next = random(17);
    const operations = new Map([...Array(1200).keys()].map((i) => [`op_${i}`, aggregate(next)] as const));
    expect(await store.write([{ minute: base + 7, operations, users: new Map() }], () => undefined)).toEqual(
      [],
    );
    const read = await store.read({ fromMinute: base, toMinute: base + 60 });
    expect(read.operations.size).toBe(1200);
    expect(read.operations.get('op_1199')?.count).toBe(operations.get('op_1199')?.count);
  });
});
