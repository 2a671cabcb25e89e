/**
 * The budget monitor over time, with an injected clock: in memory-only mode (records through a real
 * alert sink), and with Redis (every instance's counts read back, one firing and one resolved
 * record per episode in the real alert list, the lease and its fence).
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AlertRecord, AlertSink, alertRecordSchema, MemoryAlertStore } from '../../src/alerts/index.ts';
import { alertLabels, fingerprintOf } from '../../src/alerts/internal.ts';
import { BudgetMonitor, type BudgetMonitorOptions, ObjectiveTable } from '../../src/slo/index.ts';
import { budgetStore, minutes, totalsOf, writeMinutes } from '../helpers/budgets.ts';
import { TEST_REDIS_URL } from '../helpers/env.ts';
import { deleteKeys } from '../helpers/telemetry.ts';
import { waitFor } from '../helpers/wait.ts';

const MINUTE = 60_000;
/** Some minute of today, so Redis keys are named like real ones. */
const NOW_MINUTE = Math.floor(Date.now() / MINUTE);
const TRACE = { trace_id: 'a'.repeat(32), span_id: 'b'.repeat(16), sampled: true };

function options(clock: { minute: number }, extra: Partial<BudgetMonitorOptions>): BudgetMonitorOptions {
  return {
    objectives: new ObjectiveTable({ objective: 0.999, periodDays: 30, errors: true }),
    settings: { minRuns: 10, burnRate: 'static' },
    maxOperations: 100,
    alerts: { emit: () => undefined },
    ownService: 'shop',
    // The evaluation of minute m runs early in minute m + 1.
    now: () => (clock.minute + 1) * MINUTE + 10_000,
    ...extra,
  };
}

describe('BudgetMonitor, memory-only', () => {
  it('opens one episode on an outage and closes it when the burn stops, nothing in between', async () => {
    const store = new MemoryAlertStore(100);
    const sink = new AlertSink({ store, repeatSeconds: 60, bufferMax: 100, keyPrefix: '' });
    const clock = { minute: NOW_MINUTE - 200 };
    const monitor = new BudgetMonitor(
      options(clock, {
        alerts: sink,
        facts: () => ({ badRun: TRACE, badAtMs: clock.minute * MINUTE }),
        hasTarget: () => true,
      }),
    );
    const feed = async (over: number, count: number) => {
      for (let i = 0; i < count; i++) {
        clock.minute++;
        monitor.recordMinute(clock.minute, totalsOf('checkout', { minute: clock.minute, runs: 100, over }));
        await monitor.evaluate();
      }
    };
    await feed(0, 120);
    expect(monitor.figures('checkout')?.alerts).toEqual([]);
    await feed(100, 10);
    await feed(0, 30);
    await sink.flush();
    const records = (await sink.recent({ type: 'slo_burn_rate', limit: 100 })).filter(
      (r) => r.severity === 'page',
    );
    expect(records.map((r) => r.status)).toEqual(['resolved', 'firing']);
    const [resolved, firing] = records as [AlertRecord, AlertRecord];
    for (const r of records) expect(alertRecordSchema.parse(r)).toEqual(r);
    expect(firing.labels).toMatchObject({
      alertname: 'PerfErrorBudgetBurn',
      service: 'shop',
      operation: 'checkout',
      severity: 'page',
    });
    expect(firing.trace).toEqual(TRACE);
    expect(firing.unit).toBe('x');
    expect(firing.slo).toMatchObject({
      objective: 0.999,
      period_days: 30,
      long_window: '1h',
      short_window: '5m',
      burn_threshold: 14.4,
    });
    expect(firing.slo?.long_burn_rate).toBeGreaterThanOrEqual(14.4);
    expect(firing.slo?.episode_id).toBe(firing.id);
    expect(resolved.fingerprint).toBe(firing.fingerprint);
    expect(resolved.slo?.episode_id).toBe(firing.id);
    expect(resolved.startsAt).toBe(firing.startsAt);
    expect(Date.parse(resolved.endsAt ?? '')).toBeGreaterThan(Date.parse(firing.startsAt));
    // The outage spent the budget: the summary's figures say so.
    const figures = monitor.figures('checkout');
    expect(figures?.budget_remaining).toBeLessThan(0);
    expect(figures?.burn_rates['5m']).toBe(0);
    expect(figures?.period_bad_runs).toBe(1000);
    await sink.close(1000);
  });

  it('keeps the episode of a quiet operation open between its runs: no resolve and fire again per run', async () => {
    const store = new MemoryAlertStore(100);
    const sink = new AlertSink({ store, repeatSeconds: 60, bufferMax: 100, keyPrefix: '' });
    const clock = { minute: NOW_MINUTE - 1000 };
    const monitor = new BudgetMonitor(
      options(clock, {
        objectives: new ObjectiveTable({ objective: 0.99, periodDays: 30, errors: true }),
        alerts: sink,
        hasTarget: () => true,
      }),
    );
    // A batch job: 30 runs every 40 minutes, all failing for four batches, then good again.
    for (let i = 0; i < 400; i++) {
      clock.minute++;
      if (i % 40 === 0) {
        const over = i >= 200 && i < 360 ? 30 : 0;
        monitor.recordMinute(clock.minute, totalsOf('batch', { minute: clock.minute, runs: 30, over }));
      }
      await monitor.evaluate();
    }
    await sink.flush();
    const page = (await sink.recent({ type: 'slo_burn_rate', limit: 100 })).filter(
      (r) => r.severity === 'page',
    );
    expect(page.map((r) => r.status)).toEqual(['resolved', 'firing']);
    await sink.close(1000);
  });

  it('counts only operations with a target', async () => {
    const clock = { minute: NOW_MINUTE };
    const monitor = new BudgetMonitor(options(clock, { hasTarget: (op) => op === 'timed' }));
    monitor.recordMinute(clock.minute, totalsOf('timed', { minute: clock.minute, runs: 5 }));
    monitor.recordMinute(clock.minute, totalsOf('untimed', { minute: clock.minute, runs: 5 }));
    await monitor.evaluate();
    expect(monitor.figures('timed')?.period_runs).toBe(5);
    expect(monitor.figures('untimed')).toBeUndefined();
  });
});

describe('BudgetMonitor with Redis', () => {
  const redis = new Redis(TEST_REDIS_URL);
  const prefixes: string[] = [];
  const monitors: BudgetMonitor[] = [];
  beforeAll(async () => {
    await redis.ping();
  });
  afterEach(async () => {
    for (const m of monitors.splice(0)) await m.stop();
  });
  afterAll(async () => {
    for (const p of prefixes) await deleteKeys(redis, p);
    redis.disconnect();
  });

  function setup(leaseMs: number) {
    const prefix = `perf-test:${randomUUID()}:`;
    prefixes.push(prefix);
    const clock = { minute: NOW_MINUTE - 100 };
    const make = () => {
      const monitor = new BudgetMonitor(
        options(clock, {
          redis: {
            client: Promise.resolve(redis),
            prefix,
            list: `${prefix}performance_alerts`,
            listMax: 100,
            leaseMs,
          },
        }),
      );
      monitors.push(monitor);
      return monitor;
    };
    const records = async () =>
      (await redis.lrange(`${prefix}performance_alerts`, 0, -1))
        .map((r) => alertRecordSchema.parse(JSON.parse(r)))
        .filter((r) => r.type === 'slo_burn_rate' && r.severity === 'page');
    return { prefix, clock, make, records };
  }

  it('two instances on one Redis: one firing and one resolved record, whoever evaluates', async () => {
    const { prefix, clock, make, records } = setup(60_000);
    const store = budgetStore(
      redis,
      prefix,
      '0.999/30/1',
      `${'c'.repeat(32)} ${'d'.repeat(16)} 1 ${Date.now()}`,
    );
    await writeMinutes(store, 'checkout', minutes(clock.minute - 119, clock.minute, 100));
    const [a, b] = [make(), make()];
    const step = async (over: number, count: number) => {
      for (let i = 0; i < count; i++) {
        clock.minute++;
        await writeMinutes(store, 'checkout', [{ minute: clock.minute, runs: 100, over }]);
        await a.evaluate();
        await b.evaluate();
      }
    };
    await step(0, 2);
    expect([a.leader, b.leader].filter(Boolean)).toHaveLength(1);
    await step(100, 8);
    // Resolved once both page rows stop: the 30-minute window of the 6 h row is clean after 30 minutes.
    await step(0, 31);
    const page = await records();
    expect(page.map((r) => r.status)).toEqual(['resolved', 'firing']);
    expect(page[1]?.trace?.trace_id).toBe('c'.repeat(32));
    expect(page[0]?.slo?.episode_id).toBe(page[1]?.id);
    // Both instances judged the same figures from what was written.
    expect(a.figures('checkout')).toEqual(b.figures('checkout'));
    // The page episode is closed; the ticket row (3 d and 6 h) still holds, so its episode stays open.
    const left = Object.values(await redis.hgetall(`${prefix}slo:episodes`)).map(
      (e) => JSON.parse(e).severity,
    );
    expect(left).toEqual(['ticket']);
  });

  it('a new lease holder sees the open episode and does not fire it again; an instance whose lease expired writes nothing', async () => {
    const { prefix, clock, make, records } = setup(1500);
    const store = budgetStore(redis, prefix);
    await writeMinutes(store, 'checkout', minutes(clock.minute - 119, clock.minute, 100));
    const first = make();
    clock.minute++;
    await writeMinutes(store, 'checkout', [{ minute: clock.minute, runs: 100, over: 100 }]);
    await first.evaluate();
    expect(first.leader).toBe(true);
    expect((await records()).map((r) => r.status)).toEqual(['firing']);
    // The first instance stops renewing (it died); its lease expires and the second takes over.
    const second = make();
    await waitFor(
      async () => {
        await second.evaluate();
        return second.leader;
      },
      { what: 'the second instance taking the lease over', intervalMs: 100 },
    );
    clock.minute++;
    await writeMinutes(store, 'checkout', [{ minute: clock.minute, runs: 100, over: 100 }]);
    await second.evaluate();
    expect((await records()).map((r) => r.status)).toEqual(['firing']);
    // The first comes back after its lease expired: it may judge, it may not write.
    for (let i = 0; i < 31; i++) {
      clock.minute++;
      await writeMinutes(store, 'checkout', [{ minute: clock.minute, runs: 100 }]);
    }
    await first.evaluate();
    expect(first.leader).toBe(false);
    expect((await records()).map((r) => r.status)).toEqual(['firing']);
    await second.evaluate();
    expect((await records()).map((r) => r.status)).toEqual(['resolved', 'firing']);
  });

  it('closes an open episode of an operation it no longer judges', async () => {
    const { prefix, make, records } = setup(60_000);
    const episode = {
      id: randomUUID(),
      startsAtMs: Date.now() - 3_600_000,
      field: '0:gone',
      service: 'shop',
      operation: 'gone',
      severity: 'page',
      longMinutes: 60,
    };
    const fingerprint = fingerprintOf(
      alertLabels({
        type: 'slo_burn_rate',
        service: 'shop',
        operation: 'gone',
        labels: { severity: 'page' },
        value: 0,
        threshold: 0,
        unit: 'x',
        summary: '-',
      }),
    );
    await redis.hset(`${prefix}slo:episodes`, fingerprint, JSON.stringify(episode));
    await make().evaluate();
    const [resolved] = await records();
    expect(resolved).toMatchObject({
      status: 'resolved',
      fingerprint,
      startsAt: new Date(episode.startsAtMs).toISOString(),
    });
    expect(resolved?.annotations.summary).toMatch(/no longer judged/);
    expect(await redis.hlen(`${prefix}slo:episodes`)).toBe(0);
  });

  it("hands each record its script wrote to the sink's listeners (notify), and only those", async () => {
    const { prefix, records } = setup(60_000);
    const episode = {
      id: randomUUID(),
      startsAtMs: Date.now() - 3_600_000,
      field: '0:gone',
      service: 'shop',
      operation: 'gone',
      severity: 'page',
      longMinutes: 60,
    };
    const labels = { severity: 'page' };
    const fingerprint = fingerprintOf(
      alertLabels({
        type: 'slo_burn_rate',
        service: 'shop',
        operation: 'gone',
        labels,
        value: 0,
        threshold: 0,
        unit: 'x',
        summary: '-',
      }),
    );
    await redis.hset(`${prefix}slo:episodes`, fingerprint, JSON.stringify(episode));
    const notified: AlertRecord[] = [];
    const emitted: unknown[] = [];
    const clock = { minute: NOW_MINUTE - 100 };
    const monitor = new BudgetMonitor(
      options(clock, {
        alerts: { emit: (input) => emitted.push(input), notify: (record) => notified.push(record) },
        redis: {
          client: Promise.resolve(redis),
          prefix,
          list: `${prefix}performance_alerts`,
          listMax: 100,
          leaseMs: 60_000,
        },
      }),
    );
    monitors.push(monitor);
    await monitor.evaluate();
    const [resolved] = await records();
    expect(notified).toEqual([resolved]);
    // The record went to Redis by the script, not through emit().
    expect(emitted).toEqual([]);
    // Nothing more to close: nothing written, nothing notified.
    await monitor.evaluate();
    expect(notified).toHaveLength(1);
  });

  it('judges the operations of other services, whatever characters their names hold', async () => {
    const { prefix, clock, make } = setup(60_000);
    const store = budgetStore(redis, prefix);
    const service = 'pay:ments|eu 1';
    const operation = '0:GET /a|b';
    const pending = minutes(clock.minute - 9, clock.minute, 7).map((m) => ({
      minute: m.minute,
      operations: new Map(),
      users: new Map(),
      services: new Map([[service, { operations: totalsOf(operation, m).operations, users: new Map() }]]),
    }));
    expect(await store.write(pending, () => 1)).toEqual([]);
    const monitor = make();
    await monitor.evaluate();
    expect(monitor.figures(operation, service)?.period_runs).toBe(70);
    expect(monitor.figures(operation)).toBeUndefined();
    expect(
      await redis.hget(
        `${prefix}slo:d:${new Date(clock.minute * MINUTE).toISOString().slice(0, 10)}`,
        `c:${service.length}:${service}${operation}`,
      ),
    ).toBe('70');
  });

  it('neither judges nor leads while Redis is away', async () => {
    const { prefix, clock } = setup(60_000);
    const broken = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    const monitor = new BudgetMonitor(
      options(clock, {
        redis: { client: Promise.resolve(broken), prefix, list: `${prefix}l`, listMax: 10, leaseMs: 1000 },
      }),
    );
    await monitor.evaluate();
    await monitor.evaluate();
    expect(monitor.evaluations).toBe(0);
    expect(monitor.leader).toBe(false);
    expect(monitor.figures('checkout')).toBeUndefined();
    broken.disconnect();
  });
});
