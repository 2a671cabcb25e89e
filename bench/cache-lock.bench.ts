/**
 * Distributed single flight and eager refresh (`npm run bench -- cache-lock`, or
 * `node bench/cache-lock.bench.ts`):
 *
 * 1. stampede across processes: 2 and 4 child processes (bench/cache-stampede-child.ts), each with
 *    CALLERS concurrent getOrSet on one cold key, a 20 ms factory counting its runs in Redis.
 *    perf-sidecar with `lockTimeoutMs` (goal: 1 run in total) against BentoCache and cache-manager
 *    doing the same (single flight per process: one run per process);
 * 2. eager refresh: latency of getOrSet on a hot key across several expiries (a paced load, 20 ms
 *    factory), with and without `eagerRefresh`: p50, p99, p99.9 and max.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createCache } from '../src/cache/index.ts';
import { setLogLevel } from '../src/shared/logger.ts';
import { STAMPEDE_CHILD, type StampedeRound } from './cache-stampede.bench.ts';
import { percentile } from './lib.ts';
import { spawnLineChild, stopChild } from './process.ts';

const CALLERS = 250;
const WORK_MS = 20;
const LIBRARIES = ['perf-sidecar', 'bentocache', 'cache-manager'] as const;

/** Factory runs in total for `processes` × CALLERS concurrent getOrSet on one cold key. */
async function stampede(
  url: string,
  raw: Redis,
  prefix: string,
  library: string,
  processes: number,
): Promise<{ runs: number; ms: number; failed: number }> {
  const counter = `${prefix}runs:${library}:${processes}`;
  const key = `cold:${library}:${processes}`;
  const children = Array.from({ length: processes }, () =>
    spawnLineChild(STAMPEDE_CHILD, {
      URL: url,
      PREFIX: prefix,
      LIBRARY: library,
      KEY: key,
      COUNTER: counter,
      CALLERS: String(CALLERS),
      WORK_MS: String(WORK_MS),
      ...(library === 'perf-sidecar' ? { LOCK_TIMEOUT_MS: '10000' } : {}),
    }),
  );
  try {
    await Promise.all(children.map((c) => c.ready(60_000)));
    const results = (await Promise.all(children.map((c) => c.request('go', 60_000)))) as StampedeRound[];
    return {
      runs: Number((await raw.get(counter)) ?? 0),
      ms: Math.max(...results.map((r) => r.ms)),
      failed: results.reduce((sum, r) => sum + r.failed, 0),
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c.process)));
  }
}

async function stampedes(url: string, raw: Redis, prefix: string): Promise<void> {
  const rows = [];
  for (const library of LIBRARIES) {
    const two = await stampede(url, raw, prefix, library, 2);
    const four = await stampede(url, raw, prefix, library, 4);
    rows.push({
      library: library === 'perf-sidecar' ? 'perf-sidecar (lockTimeoutMs 10000)' : library,
      'factory runs, 2 processes': two.runs,
      'factory runs, 4 processes': four.runs,
      'ms until all callers had a value (4 processes)': four.ms.toFixed(0),
      'failed calls': two.failed + four.failed,
    });
  }
  console.log(
    `\ndistributed stampede: ${CALLERS} concurrent getOrSet per process on one cold key, ${WORK_MS} ms factory (goal: 1 run)`,
  );
  console.table(rows);
}

/**
 * getOrSet latencies on one hot key under a paced load (BURST calls every ms for DURATION_MS) with
 * a TTL of TTL_SECONDS, so the key expires several times during the run.
 */
async function hotKeyLatencies(
  url: string,
  prefix: string,
  eagerRefresh: number | undefined,
): Promise<number[]> {
  const TTL_SECONDS = 0.5;
  const DURATION_MS = 3000;
  const BURST = 5;
  const cache = createCache({
    redis: url,
    prefix: `${prefix}eager:${eagerRefresh ?? 'off'}:`,
    name: 'bench-eager',
    ...(eagerRefresh === undefined ? {} : { eagerRefresh }),
  });
  if (!(await cache.ready())) throw new Error(`Redis at ${url} does not answer`);
  const factory = async () => {
    await new Promise((resolve) => setTimeout(resolve, WORK_MS));
    return 'x'.repeat(100);
  };
  const options = { ttlSeconds: TTL_SECONDS };
  await cache.getOrSet('hot', factory, options);
  const latencies: number[] = [];
  const pending: Promise<void>[] = [];
  const started = performance.now();
  while (performance.now() - started < DURATION_MS) {
    for (let i = 0; i < BURST; i++) {
      const t = performance.now();
      pending.push(
        cache.getOrSet('hot', factory, options).then(() => {
          latencies.push(performance.now() - t);
        }),
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await Promise.all(pending);
  await cache.close();
  return latencies;
}

async function eagerRefresh(url: string, prefix: string): Promise<void> {
  const off = await hotKeyLatencies(url, prefix, undefined);
  const on = await hotKeyLatencies(url, prefix, 0.8);
  const row = (name: string, values: number[]) => ({
    case: name,
    calls: values.length,
    'p50 ms': percentile(values, 50).toFixed(3),
    'p99 ms': percentile(values, 99).toFixed(3),
    'p99.9 ms': percentile(values, 99.9).toFixed(3),
    'max ms': Math.max(...values).toFixed(3),
  });
  console.log(
    `\neager refresh: getOrSet on a hot key across its expiries (TTL 0.5 s, 3 s of 5 calls per ms, ${WORK_MS} ms factory)`,
  );
  console.table([row('without eagerRefresh', off), row('eagerRefresh 0.8', on)]);
  const p99Off = percentile(off, 99);
  const p99On = percentile(on, 99);
  console.log(`  p99 without / with eagerRefresh: ${(p99Off / p99On).toFixed(0)}x`);
}

/** Runs the distributed single-flight and eager-refresh benchmarks against the Redis at `url`. */
export async function benchCacheLock(url: string): Promise<void> {
  setLogLevel('error');
  const prefix = `perf-bench-lock:${randomUUID()}:`;
  const raw = new Redis(url);
  try {
    await stampedes(url, raw, prefix);
    await eagerRefresh(url, prefix);
  } finally {
    const keys = await raw.keys(`${prefix}*`);
    for (let i = 0; i < keys.length; i += 1000) await raw.unlink(...keys.slice(i, i + 1000));
    await raw.quit();
  }
}

if (import.meta.main) await benchCacheLock(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
