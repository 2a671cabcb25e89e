/**
 * getPerformanceReport in process: figures from the metric readers (memory mode), query checks,
 * the operation cap, the Redis fallback, and the resource sampler's alerts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { AlertInput } from '../../src/alerts/index.ts';
import { InvalidArgumentError } from '../../src/shared/errors.ts';
import { emptyAggregate } from '../../src/telemetry/aggregate.ts';
import { getPerformanceReport, trackOperation } from '../../src/telemetry/index.ts';
import { cachedRead } from '../../src/telemetry/report.ts';
import { ResourceSampler } from '../../src/telemetry/resources.ts';
import { RedisRollupStore } from '../../src/telemetry/rollup.ts';
import { OwnRedis } from '../helpers/redis-server.ts';
import {
  busyFor,
  startConnectedTelemetry,
  startTestTelemetry,
  type TestTelemetry,
} from '../helpers/telemetry.ts';

let t: TestTelemetry | undefined;
afterEach(async () => {
  await t?.cleanup();
  t = undefined;
});

function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // Busy on purpose: durations must be real, and CPU must really be used.
  }
}

describe('getPerformanceReport (memory)', () => {
  it('computes count, errors, percentiles, breaches and Apdex from the recorded spans', async () => {
    // Durations far from the edges, so a slow machine cannot move one across T or 4T: no-ops
    // (microseconds, T = 0.5 s away) and 1 s waits (T and 4T each 0.5 s or more away).
    t = await startTestTelemetry({ REDIS_URL: '', PERF_TARGETS: '{"rep_op":0.5}' });
    for (let i = 0; i < 8; i++) trackOperation('rep_op', { measureResources: false }, () => 1);
    await Promise.all(
      Array.from({ length: 2 }, () =>
        trackOperation('rep_op', { measureResources: false }, () => busyFor(1000)),
      ),
    );
    expect(() =>
      trackOperation('rep_op', { measureResources: false }, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    const report = await getPerformanceReport({ hours: 1 });
    expect(report.window.source).toBe('memory');
    expect(report.window.hours).toBe(1);
    const op = report.operations.rep_op;
    expect(op).toMatchObject({ count: 11, errors: 1, target_s: 0.5, breaches: 2 });
    expect(op?.p50_s).toBeLessThan(0.5);
    expect(op?.p99_s).toBeGreaterThan(0.5);
    expect(op?.max_s).toBeGreaterThanOrEqual(1);
    // 9 satisfied (the failed one was fast), 2 tolerating (1 s within 4 x 0.5 s).
    expect(op?.apdex).toBeCloseTo((9 + 1) / 11, 3);
    expect(report.alerts.target_exceeded).toBe(2);
  });

  it('includes tracked operations without a target (never breaching, no Apdex)', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    trackOperation('no_target_op', { measureResources: false }, () => spin(1));
    const op = (await getPerformanceReport()).operations.no_target_op;
    expect(op).toMatchObject({ count: 1, target_s: null, breaches: 0, breach_rate: 0, apdex: null });
    expect(await t.telemetry.renderPrometheus()).not.toMatch(
      /perf_operation_target_seconds\{[^}]*no_target_op/,
    );
  });

  it('says there is no data (data_from null) before anything was recorded', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const report = await getPerformanceReport();
    expect(report.window.data_from).toBeNull();
    expect(report.operations).toEqual({});
  });

  it('filters by operation and by user', async () => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    trackOperation('a_op', { userId: 'u1', targetSeconds: 1, measureResources: false }, () => 1);
    trackOperation('b_op', { userId: 'u2', targetSeconds: 1, measureResources: false }, () => 1);
    trackOperation('b_op', { userId: 'u1', targetSeconds: 1, measureResources: false }, () => 1);
    expect(Object.keys((await getPerformanceReport({ operation: 'b_op' })).operations)).toEqual(['b_op']);
    const u1 = await getPerformanceReport({ userId: 'u1' });
    expect(u1.operations.a_op?.count).toBe(1);
    expect(u1.operations.b_op?.count).toBe(1);
    expect(Object.keys((await getPerformanceReport({ userId: 'nobody' })).operations)).toEqual([]);
  });

  it('folds names past PERF_MAX_OPERATIONS into _other', async () => {
    t = await startTestTelemetry({ REDIS_URL: '', PERF_MAX_OPERATIONS: '3' });
    for (let i = 0; i < 6; i++)
      trackOperation(`op_${i}`, { targetSeconds: 1, measureResources: false }, () => 1);
    const report = await getPerformanceReport();
    expect(Object.keys(report.operations).sort()).toEqual(['_other', 'op_0', 'op_1', 'op_2']);
    expect(report.operations._other?.count).toBe(3);
  });

  it.each([
    [{ hours: 0 }, 'hours'],
    [{ hours: 721 }, 'hours'],
    [{ hours: 1.5 }, 'hours'],
    [{ hours: '24' }, 'hours'],
    [{ operation: '' }, 'operation'],
    [{ operation: 'x'.repeat(10_000) }, 'operation'],
    [{ userId: 'a\nb' }, 'userId'],
    ['hours=24', 'query'],
  ])('rejects %j with an error naming %s', async (query, named) => {
    t = await startTestTelemetry({ REDIS_URL: '' });
    const error = await getPerformanceReport(query as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as Error).message).toMatch(new RegExp(`^${named}: .*expected`));
    expect((error as Error).message.length).toBeLessThan(300);
  });
});

describe('getPerformanceReport with Redis', () => {
  it('gives the same counts for repeated reports (the cached read is never added to)', async () => {
    t = await startConnectedTelemetry();
    for (let i = 0; i < 5; i++)
      trackOperation('repeat_op', { targetSeconds: 1, measureResources: false }, () => 1);
    trackOperation('constructor', { measureResources: false }, () => 1);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const report = await getPerformanceReport({ hours: 1 });
      expect(report.window.source).toBe('redis');
      counts.push(report.operations.repeat_op?.count ?? -1);
    }
    expect(counts).toEqual([5, 5, 5]);
    // Flushed to Redis, then read back: still 5, and an operation named like an Object.prototype
    // member gets no junk target.
    await t.telemetry.windows.collect();
    await t.telemetry.windows.flush();
    const after = await getPerformanceReport({ hours: 1 });
    expect(after.operations.repeat_op?.count).toBe(5);
    expect(after.operations.constructor).toMatchObject({ count: 1, target_s: null, apdex: null });
    const keys = await t.redis.keys(`${t.prefix}metrics:constructor:*`);
    expect(keys).toHaveLength(1);
    expect(await t.redis.hget(keys[0] as string, 'target')).toBeNull();
  });
});

describe('getPerformanceReport with Redis: the services list', () => {
  it.each([
    ['under the cap: from the operations read', 10],
    ['at the cap: from the summaries, which count every run', 2],
  ])('counts every run of the own service, %s', async (_, maxOperations) => {
    t = await startConnectedTelemetry({ PERF_MAX_OPERATIONS: String(maxOperations) });
    // Another instance (a store of its own, with a larger cap) writes four operations; this one
    // reads at most PERF_MAX_OPERATIONS + 1 (`_other`).
    const other = new RedisRollupStore({
      client: t.redis,
      keyPrefix: t.prefix,
      retentionDays: 2,
      maxOperations: 100,
    });
    const minute = Math.floor(Date.now() / 60_000) - 1;
    const runs = (count: number) => {
      const a = emptyAggregate(true);
      a.count = count;
      a.sum = count * 0.01;
      a.max = 0.01;
      a.min = 0.01;
      a.buckets.set(0.025, count);
      return a;
    };
    const operations = new Map([
      ['a', runs(2)],
      ['b', runs(2)],
      ['c', runs(3)],
      ['d', runs(1)],
    ]);
    expect(await other.write([{ minute, operations, users: new Map() }], () => 1)).toEqual([]);
    const report = await getPerformanceReport({ hours: 1 });
    expect(report.window.source).toBe('redis');
    expect(report.services['perf-sidecar']).toMatchObject({
      runs: 8,
      operations: Math.min(4, maxOperations + 1),
    });
  });
});

describe('cachedRead', () => {
  it('keeps reads while the rollups do not change, within a bound on what they hold in all', async () => {
    t = await startConnectedTelemetry();
    const store = new RedisRollupStore({
      client: t.redis,
      keyPrefix: t.prefix,
      retentionDays: 1,
      maxOperations: 10,
    });
    const calls: string[] = [];
    const read = (key: string, weight: number) =>
      cachedRead(
        store,
        key,
        async () => {
          calls.push(key);
          return weight;
        },
        (w) => w,
      );
    await read('a', 100);
    await read('a', 100);
    expect(calls).toEqual(['a']);
    // Two reads of 15,000 operations do not fit in 20,000: the older one goes.
    await read('big1', 15_000);
    await read('big2', 15_000);
    await read('big2', 15_000);
    await read('big1', 15_000);
    expect(calls).toEqual(['a', 'big1', 'big2', 'big1']);
  });
});

describe('getPerformanceReport with Redis away', () => {
  it('falls back to this process memory and says why', async () => {
    const own = await OwnRedis.start();
    try {
      t = await startTestTelemetry({ REDIS_URL: own.url, REDIS_COMMAND_TIMEOUT_MS: '200' });
      trackOperation('fallback_op', { targetSeconds: 1, measureResources: false }, () => 1);
      await own.stop();
      const report = await getPerformanceReport();
      expect(report.window.source).toBe('memory');
      expect(report.warnings[0]).toMatch(/redis rollups unavailable/);
      expect(report.operations.fallback_op?.count).toBe(1);
    } finally {
      await own.dispose();
    }
  });
});

describe('ResourceSampler', () => {
  it('raises high_memory past the RSS threshold and high_cpu only after sustained samples', () => {
    const raised: AlertInput[] = [];
    const sampler = new ResourceSampler({
      alerts: { emit: (a) => raised.push(a) },
      serviceName: 'svc',
      memoryAlertThresholdMb: 1,
      cpuAlertThresholdPercent: 10,
      cpuSustainSamples: 3,
    });
    sampler.start();
    try {
      for (let i = 0; i < 2; i++) {
        spin(30);
        sampler.sample();
      }
      expect(raised.filter((a) => a.type === 'high_cpu')).toHaveLength(0);
      expect(raised.filter((a) => a.type === 'high_memory')).toHaveLength(2);
      spin(30);
      const sample = sampler.sample();
      expect(sample.cpuPercent).toBeGreaterThan(10);
      const cpu = raised.filter((a) => a.type === 'high_cpu');
      expect(cpu).toHaveLength(1);
      expect(cpu[0]).toMatchObject({ unit: '%', threshold: 10, service: 'svc' });
      expect(raised.find((a) => a.type === 'high_memory')).toMatchObject({ unit: 'MiB', threshold: 1 });
      expect(sample.eventLoopUtilization).toBeGreaterThan(0);
      expect(sampler.latest()).toBe(sample);
    } finally {
      sampler.stop();
    }
  });
});
