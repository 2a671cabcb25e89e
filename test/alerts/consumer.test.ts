import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type AlertRecord, consumeAlerts } from '../../src/alerts/index.ts';
import { buildAlert } from '../../src/alerts/schema.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { waitFor } from '../helpers/wait.ts';

let redis: Redis;
let list: string;
const stops: (() => Promise<void>)[] = [];

beforeEach(() => {
  redis = new Redis(TEST_REDIS_URL);
  list = `perf-test:${randomUUID()}:performance_alerts`;
});

afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
  const keys = await redis.keys(`${list}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

function record(operation: string): string {
  return JSON.stringify(
    buildAlert({
      type: 'target_exceeded',
      service: 's',
      operation,
      value: 3,
      threshold: 2,
      unit: 's',
      summary: 'slow',
    }),
  );
}

describe('consumeAlerts (real Redis)', () => {
  it('hands records over oldest first and acknowledges each after its handler', async () => {
    // The sink pushes newest at the head: LPUSH in emission order.
    for (const op of ['a', 'b', 'c']) await redis.lpush(list, record(op));
    const seen: string[] = [];
    const consumer = consumeAlerts({
      redis,
      list,
      blockSeconds: 0.1,
      handler: (alert) => {
        seen.push(alert.labels.operation ?? '');
      },
    });
    stops.push(consumer.stop);
    await waitFor(() => consumer.acknowledged === 3, { what: 'three acknowledgements' });
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(await redis.llen(list)).toBe(0);
    expect(await redis.llen(`${list}:processing`)).toBe(0);
    expect(await redis.hlen(`${list}:processing:claimed`)).toBe(0);
  });

  it('redelivers a record whose handler failed, after the visibility timeout', async () => {
    await redis.lpush(list, record('flaky'));
    const attempts: AlertRecord[] = [];
    const consumer = consumeAlerts({
      redis,
      list,
      blockSeconds: 0.1,
      visibilityTimeoutMs: 200,
      handler: (alert) => {
        attempts.push(alert);
        if (attempts.length < 3) throw new Error('downstream unavailable');
      },
    });
    stops.push(consumer.stop);
    await waitFor(() => consumer.acknowledged === 1, { what: 'the third attempt to succeed' });
    expect(attempts).toHaveLength(3);
    expect(new Set(attempts.map((a) => a.id)).size).toBe(1);
    expect(await redis.llen(`${list}:processing`)).toBe(0);
  });

  it('moves a record to the dead letters after maxDeliveries, and non-alert entries at once', async () => {
    await redis.lpush(list, record('poison'));
    await redis.lpush(list, 'not json at all');
    const consumer = consumeAlerts({
      redis,
      list,
      blockSeconds: 0.1,
      visibilityTimeoutMs: 100,
      maxDeliveries: 2,
      handler: () => {
        throw new Error('always fails');
      },
    });
    stops.push(consumer.stop);
    const dead = await waitFor(
      async () => {
        const entries = await redis.lrange(`${list}:dead`, 0, -1);
        return entries.length === 2 ? entries : undefined;
      },
      { what: 'two dead letters' },
    );
    expect(dead).toContain('not json at all');
    expect(dead.some((d) => d.includes('"poison"'))).toBe(true);
    expect(await redis.llen(list)).toBe(0);
    await waitFor(async () => (await redis.llen(`${list}:processing`)) === 0, {
      what: 'an empty processing list',
    });
  });

  it('stop() ends the loop and leaves the caller connection usable', async () => {
    const consumer = consumeAlerts({ redis, list, blockSeconds: 5, handler: () => undefined });
    await consumer.stop();
    await consumer.done;
    expect(await redis.ping()).toBe('PONG');
  });

  it('rejects bad options with clear errors', () => {
    expect(() => consumeAlerts({ redis, list: '', handler: () => undefined })).toThrow(InvalidArgumentError);
    expect(() => consumeAlerts({ redis, list, handler: 'no' as never })).toThrow(
      /options\.handler: is "no"; expected a function/,
    );
    expect(() => consumeAlerts({ redis, list, handler: () => undefined, visibilityTimeoutMs: -1 })).toThrow(
      /options\.visibilityTimeoutMs: is -1; expected a number greater than 0/,
    );
  });
});
