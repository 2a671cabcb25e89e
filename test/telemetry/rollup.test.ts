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
): PendingMinute {
  return {
    minute: at,
    operations: new Map(operations),
    users: new Map(users.map(([u, ops]) => [u, new Map(ops)])),
  };
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
});
