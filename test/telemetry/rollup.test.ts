/** Redis rollups against the real Redis: additive writers, max, expiry, hostile names, filters. */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { type DurationAggregate, emptyAggregate } from '../../src/telemetry/aggregate.ts';
import type { PendingMinute } from '../../src/telemetry/minutes.ts';
import { minuteParts, RedisRollupStore } from '../../src/telemetry/rollup.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { deleteKeys } from '../helpers/telemetry.ts';

const redis = new Redis(TEST_REDIS_URL);
const prefix = `test:${randomUUID()}:`;
afterAll(async () => {
  await deleteKeys(redis, prefix);
  redis.disconnect();
});

function agg(count: number, max: number, buckets: [number, number][], breaches = 0): DurationAggregate {
  const a = emptyAggregate(true);
  a.count = count;
  a.sum = count * max;
  a.max = max;
  a.breaches = breaches;
  for (const [bound, n] of buckets) a.buckets.set(bound, n);
  return a;
}

function minute(
  operations: [string, DurationAggregate][],
  at: number,
  users: [string, [string, DurationAggregate][]][] = [],
  services: [string, [string, DurationAggregate][], [string, [string, DurationAggregate][]][]?][] = [],
): PendingMinute {
  return {
    minute: at,
    operations: new Map(operations),
    users: new Map(users.map(([u, ops]) => [u, new Map(ops)])),
    services: new Map(
      services.map(([name, ops, serviceUsers = []]) => [
        name,
        { operations: new Map(ops), users: new Map(serviceUsers.map(([u, o]) => [u, new Map(o)])) },
      ]),
    ),
  };
}

function errorsOf(a: DurationAggregate, errors: number): DurationAggregate {
  a.errors = errors;
  return a;
}

describe('RedisRollupStore', () => {
  const store = new RedisRollupStore({
    client: redis,
    keyPrefix: prefix,
    retentionDays: 2,
    maxOperations: 100,
  });
  const now = Math.floor(Date.UTC(2026, 10, 27, 10, 30) / 60_000);

  it('adds what two writers write for the same minute, keeps the larger max and expires keys', async () => {
    await redis.ping();
    const hostile = 'ops|with:odd {names}';
    await store.write([minute([[hostile, agg(3, 0.4, [[0.5, 3]], 1)]], now)], () => 0.3);
    await store.write(
      [
        minute(
          [
            [
              hostile,
              agg(
                2,
                0.9,
                [
                  [0.5, 1],
                  [1, 1],
                ],
                1,
              ),
            ],
          ],
          now,
        ),
      ],
      () => 0.3,
    );
    const read = await store.read({ fromMinute: now - 5, toMinute: now });
    const got = read.operations.get(hostile);
    expect(got).toMatchObject({ count: 5, breaches: 2, max: 0.9 });
    expect(got?.buckets.get(0.5)).toBe(4);
    expect(got?.buckets.get(1)).toBe(1);
    expect(read.targets.get(hostile)).toBe(0.3);
    expect(read.firstMinute).toBe(now);
    const key = `${prefix}metrics:${hostile}:${minuteParts(now).date}`;
    expect(await redis.ttl(key)).toBeGreaterThan(86_400);
    expect(await redis.ttl(key)).toBeLessThanOrEqual(2 * 86_400);
  });

  it('keeps the smaller minimum of two writers, and no minimum once a minute had none', async () => {
    const op = 'min_op';
    const withMin = (min: number) => {
      const a = agg(2, 0.2, [[0.25, 2]]);
      a.min = min;
      return a;
    };
    await store.write([minute([[op, withMin(0.16)]], now + 200)], () => undefined);
    await store.write([minute([[op, withMin(0.151)]], now + 200)], () => undefined);
    const read = await store.read({ fromMinute: now + 200, toMinute: now + 200, operation: op });
    expect(read.operations.get(op)?.min).toBe(0.151);
    // A minute written without a minimum (an older writer) makes the merged minimum unknown.
    await store.write([minute([[op, agg(1, 0.2, [[0.25, 1]])]], now + 201)], () => undefined);
    const both = await store.read({ fromMinute: now + 200, toMinute: now + 201, operation: op });
    expect(both.operations.get(op)?.count).toBe(5);
    expect(both.operations.get(op)?.min).toBeUndefined();
  });

  it('reads only the minutes of the window, across a day boundary', async () => {
    const midnight = Math.floor(Date.UTC(2026, 10, 28, 0, 0) / 60_000);
    await store.write(
      [
        minute([['span_days', agg(1, 0.1, [[0.1, 1]])]], midnight - 1),
        minute([['span_days', agg(2, 0.1, [[0.1, 2]])]], midnight + 1),
      ],
      () => undefined,
    );
    expect(
      (await store.read({ fromMinute: midnight - 10, toMinute: midnight + 10 })).operations.get('span_days')
        ?.count,
    ).toBe(3);
    expect(
      (await store.read({ fromMinute: midnight, toMinute: midnight + 10 })).operations.get('span_days')
        ?.count,
    ).toBe(2);
    expect(
      (
        await store.read({ fromMinute: midnight - 10, toMinute: midnight - 1, operation: 'span_days' })
      ).operations.get('span_days')?.count,
    ).toBe(1);
  });

  it('keeps per-user figures apart and filters by user and operation', async () => {
    await store.write(
      [
        minute([], now, [
          [
            'user:1|x',
            [
              ['a|b', agg(2, 0.2, [[0.25, 2]])],
              ['c', agg(1, 0.2, [[0.25, 1]])],
            ],
          ],
          ['u2', [['c', agg(7, 0.2, [[0.25, 7]])]]],
        ]),
      ],
      () => undefined,
    );
    const u1 = await store.read({ fromMinute: now - 1, toMinute: now, userId: 'user:1|x' });
    expect(u1.operations.get('a|b')?.count).toBe(2);
    expect(u1.operations.get('c')?.count).toBe(1);
    const u1c = await store.read({ fromMinute: now - 1, toMinute: now, userId: 'user:1|x', operation: 'c' });
    expect([...u1c.operations.keys()]).toEqual(['c']);
    expect((await store.read({ fromMinute: now - 1, toMinute: now, userId: 'nobody' })).operations.size).toBe(
      0,
    );
  });

  it('rejects reads and writes while its Redis is not connected', async () => {
    const dead = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      retryStrategy: () => null,
      maxRetriesPerRequest: 0,
    });
    dead.on('error', () => undefined);
    const offline = new RedisRollupStore({
      client: dead,
      keyPrefix: prefix,
      retentionDays: 1,
      maxOperations: 10,
    });
    await expect(offline.read({ fromMinute: now - 1, toMinute: now })).rejects.toThrow(/no Redis connection/);
    await expect(
      offline.write([minute([['x', agg(1, 0.1, [[0.1, 1]])]], now)], () => undefined),
    ).rejects.toThrow(/no Redis connection/);
    dead.disconnect();
  });

  it('keeps the own keys as they were and puts other services under svc:{length}:{name}:', async () => {
    const day = Math.floor(Date.UTC(2026, 11, 1, 9, 0) / 60_000);
    const { date } = minuteParts(day);
    await store.write(
      [
        minute(
          [['op', agg(1, 0.1, [[0.1, 1]])]],
          day,
          [],
          [
            ['checkout', [['op', agg(4, 0.2, [[0.25, 4]], 1)]], [['u1', [['op', agg(2, 0.2, [[0.25, 2]])]]]]],
            // Names that would make one key of two pairs without the length: service "a" with
            // operation "x:metrics:y", service "a:metrics:x" with operation "y".
            ['a', [['x:metrics:y', agg(1, 0.1, [[0.1, 1]])]]],
            ['a:metrics:x', [['y', agg(2, 0.1, [[0.1, 2]])]]],
          ],
        ),
      ],
      (_op, service) => (service === 'checkout' ? 0.15 : undefined),
    );
    expect(await redis.exists(`${prefix}metrics:op:${date}`)).toBe(1);
    expect(await redis.hget(`${prefix}svc:8:checkout:metrics:op:${date}`, 'target')).toBe('0.15');
    expect(await redis.smembers(`${prefix}svc:8:checkout:metrics_index:${date}`)).toEqual(['op']);
    expect((await redis.smembers(`${prefix}services_index:${date}`)).sort()).toEqual([
      'a',
      'a:metrics:x',
      'checkout',
    ]);
    const range = { fromMinute: day, toMinute: day };
    expect((await store.read(range)).operations.get('op')?.count).toBe(1);
    const checkout = await store.read({ ...range, service: 'checkout' });
    expect(checkout.operations.get('op')).toMatchObject({ count: 4, breaches: 1 });
    expect(checkout.targets.get('op')).toBe(0.15);
    expect(
      (await store.read({ ...range, service: 'checkout', userId: 'u1' })).operations.get('op')?.count,
    ).toBe(2);
    expect((await store.read({ ...range, userId: 'u1' })).operations.size).toBe(0);
    expect([...(await store.read({ ...range, service: 'a' })).operations.keys()]).toEqual(['x:metrics:y']);
    expect((await store.read({ ...range, service: 'a:metrics:x' })).operations.get('y')?.count).toBe(2);
  });

  it('reads the activity of every service in a range from the summaries, adding up writers', async () => {
    const start = Math.floor(Date.UTC(2026, 11, 5, 8, 0) / 60_000);
    const write = (at: number, own: [string, DurationAggregate][], svc: [string, DurationAggregate][]) =>
      store.write([minute(own, at, [], [['shop', svc]])], () => undefined);
    // Before the range: counted nowhere, and an operation seen only then is not in the range.
    await write(start - 30, [['early', agg(5, 0.1, [[0.1, 5]])]], [['early', agg(5, 0.1, [[0.1, 5]])]]);
    await write(
      start,
      [['a', errorsOf(agg(3, 0.2, [[0.25, 3]], 1), 1)]],
      [['b', agg(2, 0.2, [[0.25, 2]], 2)]],
    );
    // A second writer (another instance) for the same minute adds up.
    await write(start, [['a', agg(1, 0.2, [[0.25, 1]])]], [['c', errorsOf(agg(1, 0.2, [[0.25, 1]]), 1)]]);
    await write(start + 10, [], [['early', agg(1, 0.1, [[0.1, 1]])]]);
    const activity = await store.readActivity(start, start + 20);
    expect(activity.own).toEqual({ operations: new Set(['a']), count: 4, errors: 1, breaches: 1 });
    expect(activity.services.get('shop')).toEqual({
      operations: new Set(['b', 'c', 'early']),
      count: 4,
      errors: 1,
      breaches: 2,
    });
    // Runs are counted by minute in any range (operations exactly in ranges that end now, as a
    // report's does: see readActivity).
    const before = await store.readActivity(start - 40, start - 1);
    expect(before.own).toMatchObject({ count: 5, errors: 0 });
    expect(before.own?.operations.has('early')).toBe(true);
    expect((await store.readActivity(start + 100, start + 200)).services.size).toBe(0);
  });

  it('returns only the parts that failed, service by service, for the next attempt', async () => {
    const at = Math.floor(Date.UTC(2026, 11, 9, 7, 0) / 60_000);
    const { date } = minuteParts(at);
    // A key of the wrong type makes exactly one command fail, as a real write can.
    await redis.set(`${prefix}svc:8:checkout:metrics:broken:${date}`, 'not a hash');
    const failed = await store.write(
      [
        minute(
          [['fine', agg(1, 0.1, [[0.1, 1]])]],
          at,
          [],
          [
            [
              'checkout',
              [
                ['ok', agg(1, 0.1, [[0.1, 1]])],
                ['broken', agg(2, 0.1, [[0.1, 2]])],
              ],
            ],
          ],
        ),
      ],
      () => undefined,
    );
    expect(failed).toHaveLength(1);
    expect(failed[0]?.minute).toBe(at);
    expect(failed[0]?.operations.size).toBe(0);
    expect([...(failed[0]?.services?.keys() ?? [])]).toEqual(['checkout']);
    expect([...(failed[0]?.services?.get('checkout')?.operations.keys() ?? [])]).toEqual(['broken']);
    const read = await store.read({ fromMinute: at, toMinute: at, service: 'checkout', operation: 'ok' });
    expect(read.operations.get('ok')?.count).toBe(1);
  });
});
