/**
 * The summary's cost (`npm run bench -- summary`), with 30 days of stored minutes per operation:
 *
 * 1. Seeding: every operation (`bench_op_*`, 1,000 by default) gets BENCH_SUMMARY_MINUTES_PER_DAY
 *    (2) minutes a day for 30 days, written through the rollup store itself (the write scripts that
 *    the sidecar runs), with the Redis CPU time they took (`INFO commandstats`).
 * 2. Rollup reads, windows of 24 and 720 hours ending now: from the minute, hour and day hashes,
 *    by a new store each read (nothing kept) and by one store (what it keeps between reads), against
 *    the per-operation day hashes (what every read was before them; read by a store that finds no
 *    first tier minute), alternating, several rounds; p50, p99 and the ratio of the medians per round.
 * 3. `GET /api/system/performance` end to end against `GET /livez` on the same server (a sidecar
 *    child, `startSidecar`, recording the same operations in memory): memory-only, then reading
 *    the seeded Redis. Each request asks for another window (24 to 63 or 681 to 720 hours, cycling
 *    over more windows than the whole reads kept), so no request is answered from a kept whole read,
 *    in two passes: the first parses the hashes the windows share, the second finds them kept.
 *    After 40 requests of a one-hour window (the JIT warmed up). With the child's RSS before and
 *    after each pass.
 *
 * BENCH_SUMMARY_OPS is a comma-separated list of operation counts (`1000,10000` runs both; 10,000
 * seeds 600,000 operation-minutes, a few minutes). BENCH_SUMMARY_REQUESTS (40) requests per path.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { type DurationAggregate, emptyAggregate } from '../src/telemetry/aggregate.ts';
import type { PendingMinute } from '../src/telemetry/minutes.ts';
import { RedisRollupStore } from '../src/telemetry/rollup.ts';
import { median, percentile, ratioText } from './lib.ts';
import { stopChild } from './process.ts';
import { deleteKeys, redisAnswers } from './redis.ts';
import { get, reportListening, startServer, withChildren } from './server-child.ts';

const SIDECAR_REGISTER = fileURLToPath(new URL('../src/register.ts', import.meta.url));
const OPS_LIST = (process.env.BENCH_SUMMARY_OPS ?? '1000').split(',').map(Number);
const MINUTES_PER_DAY = Number(process.env.BENCH_SUMMARY_MINUTES_PER_DAY ?? 2);
const REQUESTS = Number(process.env.BENCH_SUMMARY_REQUESTS ?? 40);
/** Requests of a one-hour window before any is measured. */
const WARMUP_REQUESTS = 40;
const DAYS = 30;
const ROUNDS = 5;
const WINDOWS = [24, 720] as const;

// The names the sidecar child records in memory too (bench/http-child.ts): one set of operations.
const opName = (i: number) => `bench_op_${String(i).padStart(4, '0')}`;

function aggregate(i: number): DurationAggregate {
  const a = emptyAggregate(true);
  a.count = 3 + (i % 5);
  a.errors = i % 7 === 0 ? 1 : 0;
  a.breaches = i % 3 === 0 ? 1 : 0;
  a.frustrated = 0;
  a.max = 0.2 + (i % 10) / 10;
  a.min = 0.01;
  a.sum = a.count * 0.3;
  // The buckets of a 1 s target's histogram that durations like these fill.
  a.buckets.set(0.1, 1);
  a.buckets.set(0.25, 1);
  a.buckets.set(0.5, a.count - 3);
  a.buckets.set(1, 1);
  return a;
}

async function evalMicros(redis: Redis): Promise<number> {
  const info = await redis.info('commandstats');
  let total = 0;
  for (const m of info.matchAll(/cmdstat_(?:eval|evalsha):calls=\d+,usec=(\d+)/g)) total += Number(m[1]);
  return total;
}

/** Writes `ops` operations' minutes over the last 30 days through the rollup store. */
async function seed(redis: Redis, store: RedisRollupStore, ops: number): Promise<void> {
  const now = Math.floor(Date.now() / 60_000);
  const first = now - DAYS * 1440 + 1;
  const byMinute = new Map<number, Map<string, DurationAggregate>>();
  for (let i = 0; i < ops; i++) {
    for (let d = 0; d < DAYS; d++) {
      for (let k = 0; k < MINUTES_PER_DAY; k++) {
        const offset = (i * 7919 + d * 104_729 + k * Math.floor(1440 / MINUTES_PER_DAY)) % 1440;
        const minute = first + d * 1440 + offset;
        if (minute >= now) continue;
        let operations = byMinute.get(minute);
        if (!operations) {
          operations = new Map();
          byMinute.set(minute, operations);
        }
        operations.set(opName(i), aggregate(i + d));
      }
    }
  }
  const minutes: PendingMinute[] = [...byMinute.entries()]
    .sort(([a], [b]) => a - b)
    .map(([minute, operations]) => ({ minute, operations, users: new Map() }));
  const opMinutes = minutes.reduce((n, m) => n + m.operations.size, 0);
  const before = await evalMicros(redis);
  const started = performance.now();
  for (let i = 0; i < minutes.length; i += 20) {
    const failed = await store.write(minutes.slice(i, i + 20), () => 1);
    if (failed.length > 0) throw new Error(`seeding: ${failed.length} minutes were not written`);
  }
  const seconds = (performance.now() - started) / 1000;
  const micros = (await evalMicros(redis)) - before;
  console.log(
    `seeded ${opMinutes.toLocaleString('en-US')} operation-minutes (${ops} operations x ${DAYS} days x ` +
      `${MINUTES_PER_DAY}) in ${seconds.toFixed(1)} s; Redis CPU in the write scripts: ` +
      `${(micros / opMinutes).toFixed(0)} µs per operation-minute`,
  );
}

/** How a rollup read is made in {@link benchReads}. */
type ReadKind = 'days' | 'cold' | 'kept';

/**
 * Rollup reads of the windows, alternating: from the day hashes; from the tier hashes by a new
 * store each read (nothing kept: the first read of a sidecar); from the tier hashes by one store
 * (what it keeps between reads at work, as in a running sidecar with no writes between reads).
 */
async function benchReads(redis: Redis, prefix: string, ops: number): Promise<void> {
  const options = { client: redis, keyPrefix: prefix, retentionDays: 40, maxOperations: ops };
  const kept = new RedisRollupStore(options);
  const days = new RedisRollupStore(options);
  const sinceKey = `${prefix}rollup_tiers_since`;
  const since = await redis.get(sinceKey);
  if (since === null) throw new Error('seeding left no first tier minute');
  const reads = ops >= 5000 ? 2 : 8;
  const kinds: readonly ReadKind[] = ['days', 'cold', 'kept'];
  const rows: Record<string, string>[] = [];
  for (const hours of WINDOWS) {
    const times: Record<ReadKind, number[]> = { days: [], cold: [], kept: [] };
    const ratios: Record<ReadKind, number[]> = { days: [], cold: [], kept: [] };
    const counted: Record<ReadKind, number> = { days: 0, cold: 0, kept: 0 };
    for (let round = 0; round < ROUNDS; round++) {
      const medians: Record<ReadKind, number> = { days: 0, cold: 0, kept: 0 };
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const which of order) {
        // The day-hash store finds no first tier minute, so it reads every minute from the day hashes.
        if (which === 'days') await redis.del(sinceKey);
        else await redis.set(sinceKey, since);
        const own: number[] = [];
        for (let r = 0; r < reads; r++) {
          const store = which === 'days' ? days : which === 'kept' ? kept : new RedisRollupStore(options);
          const toMinute = Math.floor(Date.now() / 60_000);
          const t = performance.now();
          const read = await store.read({ fromMinute: toMinute - hours * 60 + 1, toMinute });
          own.push(performance.now() - t);
          counted[which] = read.operations.size;
        }
        times[which].push(...own);
        medians[which] = median(own);
      }
      for (const which of kinds) ratios[which].push(medians.days / medians[which]);
    }
    await redis.set(sinceKey, since);
    if (counted.cold !== counted.days || counted.kept !== counted.days) {
      throw new Error(
        `hours=${hours}: the day hashes read ${counted.days} operations, the tiers ${counted.cold} and ${counted.kept}`,
      );
    }
    const label: Record<ReadKind, string> = {
      days: 'day hashes per operation (before)',
      cold: 'minute/hour/day hashes, a new store each read',
      kept: 'minute/hour/day hashes, one store (kept reads)',
    };
    for (const which of kinds) {
      rows.push({
        window: `${hours} h`,
        read: label[which],
        operations: String(counted[which]),
        'p50 ms': median(times[which]).toFixed(1),
        'p99 ms': percentile(times[which], 99).toFixed(1),
        'x faster (per round)': which === 'days' ? '1' : ratioText(ratios[which]),
      });
    }
  }
  console.log(`\nrollup reads, ${ops} operations (${ROUNDS} rounds x ${reads} reads each)`);
  console.table(rows);
}

function rssMiB(pid: number | undefined): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** `GET /api/system/performance` end to end against `GET /livez`, on a sidecar child. */
async function benchEndpoint(label: string, ops: number, env: Record<string, string>): Promise<void> {
  const server = await startServer(['--import', SIDECAR_REGISTER], {
    BENCH_HTTP_VARIANT: 'summary',
    BENCH_OPERATIONS: String(ops),
    BENCH_SPANS_PER_OPERATION: '3',
    PERF_MAX_OPERATIONS: String(ops),
    ...env,
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const rows: Record<string, string>[] = [];
    const livez: number[] = [];
    // Warm-up: the report's code compiled and optimised, with a window that reads none of the
    // measured windows' older hashes (a fresh sidecar's first requests measure the JIT).
    for (let i = 0; i < WARMUP_REQUESTS; i++) {
      const res = await get(agent, server.port, '/api/system/performance?hours=1');
      if (res.status !== 200) throw new Error(`summary answered ${res.status}: ${res.body.slice(0, 300)}`);
    }
    for (const hours of WINDOWS) {
      // 40 windows, more than the whole reads kept: 24 to 63 hours, or 681 to 720.
      const low = hours === 720 ? 681 : hours;
      const path = (i: number) => `/api/system/performance?hours=${low + (i % 40)}`;
      const check = await get(agent, server.port, path(0));
      if (check.status !== 200)
        throw new Error(`summary answered ${check.status}: ${check.body.slice(0, 300)}`);
      const report = JSON.parse(check.body) as {
        window: { source: string };
        operations: Record<string, unknown>;
      };
      // Two passes over the windows: the first parses the hashes they share once, the second
      // finds them kept (with Redis; memory-only both passes are alike).
      for (const pass of ['first', 'second'] as const) {
        const rssBefore = rssMiB(server.child.pid);
        const times: number[] = [];
        for (let i = 1; i <= REQUESTS; i++) {
          const res = await get(agent, server.port, path(i));
          if (res.status !== 200) throw new Error(`summary answered ${res.status}`);
          times.push(res.ms);
          livez.push((await get(agent, server.port, '/livez')).ms);
        }
        rows.push({
          path: `hours=${low}..${low + 39} (${report.window.source}), ${pass} pass`,
          operations: String(Object.keys(report.operations).length),
          KiB: (check.body.length / 1024).toFixed(0),
          'p50 ms': median(times).toFixed(1),
          'p99 ms': percentile(times, 99).toFixed(1),
          'RSS MiB before..after': `${rssBefore.toFixed(0)}..${rssMiB(server.child.pid).toFixed(0)}`,
        });
      }
    }
    rows.push({
      path: '/livez',
      'p50 ms': median(livez).toFixed(2),
      'p99 ms': percentile(livez, 99).toFixed(2),
    });
    console.log(
      `\nGET /api/system/performance, ${label}, ${ops} operations, ${REQUESTS} requests per window`,
    );
    console.table(rows);
  } finally {
    agent.destroy();
    await stopChild(server.child);
    await reportListening([server.port]);
  }
}

/** Runs the summary benchmark for every operation count of BENCH_SUMMARY_OPS. */
export async function benchSummary(redisUrl: string): Promise<void> {
  await withChildren(async () => {
    for (const ops of OPS_LIST) {
      console.log(`\nsummary: ${ops} operations`);
      await benchEndpoint('memory-only', ops, {});
      if (!(await redisAnswers(redisUrl))) {
        console.log(`with Redis: skipped (${redisUrl} does not answer)`);
        continue;
      }
      const prefix = `bench:${randomUUID().slice(0, 8)}:`;
      const redis = new Redis(redisUrl);
      try {
        await redis.ping();
        const store = new RedisRollupStore({
          client: redis,
          keyPrefix: prefix,
          retentionDays: 40,
          maxOperations: ops,
        });
        await seed(redis, store, ops);
        await benchReads(redis, prefix, ops);
        await benchEndpoint(`Redis rollups (ALERT_KEY_PREFIX=${prefix})`, ops, {
          REDIS_URL: redisUrl,
          ALERT_KEY_PREFIX: prefix,
        });
      } finally {
        redis.disconnect();
        console.log(`deleted ${await deleteKeys(redisUrl, prefix)} Redis keys under ${prefix}`);
      }
    }
  });
}
