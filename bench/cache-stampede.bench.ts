/**
 * Cache stampede across processes (`npm run bench -- cache-stampede`, or
 * `node bench/cache-stampede.bench.ts`): 1,000 concurrent getOrSet on one cold key with a 20 ms
 * factory, spread over 1, 2 and 4 instances, each instance a process of its own
 * (bench/cache-stampede-child.ts). Instances in one process would share its event loop and its
 * in-process single flight, which is kinder than a real deployment.
 *
 * Compared: perf-sidecar's cache with its defaults and with `lockTimeoutMs` (the distributed single
 * flight), and BentoCache set up as bench/cache.bench.ts sets it up (L1 memory + L2 Redis + Redis
 * bus). Reported per case, min, median and max over ROUNDS rounds: factory calls in total (counted
 * in Redis by the factory itself) and the wall time from the first call in any process to the last
 * caller holding its value. Each set of processes runs one unreported warm-up round first (other
 * key), so the figures are those of a stampede in a running process, not of its first connection.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { median } from './lib.ts';
import { type LineChild, spawnLineChild, stopChild } from './process.ts';
import { deleteKeys } from './redis.ts';

/** Path of the stampede child script (shared with bench/cache-lock.bench.ts). */
export const STAMPEDE_CHILD = join(import.meta.dirname, 'cache-stampede-child.ts');

/** What a stampede child prints per round. */
export interface StampedeRound {
  /** Time from its first call to its last value, ms. */
  readonly ms: number;
  /** Calls that rejected or returned a wrong value. */
  readonly failed: number;
  /** Epoch ms of its first call (comparable across processes). */
  readonly startedAt: number;
  /** Epoch ms of its last value (comparable across processes). */
  readonly finishedAt: number;
}

const CALLERS = 1000;
const WORK_MS = 20;
const ROUNDS = 5;
const INSTANCES = [1, 2, 4] as const;
/** Bounds on a child starting (loading its libraries, connecting) and on one round. */
const READY_TIMEOUT_MS = 60_000;
const ROUND_TIMEOUT_MS = 30_000;

interface Library {
  readonly name: string;
  /** The child's LIBRARY and, for perf-sidecar's lock, LOCK_TIMEOUT_MS. */
  readonly env: Record<string, string>;
}

const LIBRARIES: readonly Library[] = [
  { name: 'perf-sidecar (defaults)', env: { LIBRARY: 'perf-sidecar' } },
  { name: 'perf-sidecar (lockTimeoutMs 10000)', env: { LIBRARY: 'perf-sidecar', LOCK_TIMEOUT_MS: '10000' } },
  { name: 'bentocache (L1 + L2 + bus)', env: { LIBRARY: 'bentocache' } },
];

/** One measured round of all instances on one cold key. */
interface Measured {
  readonly calls: number;
  readonly wallMs: number;
  /** Last process to start minus first: how far apart the processes' first calls were. */
  readonly startSpreadMs: number;
  readonly failed: number;
}

/** `median (min-max)` of `values`, with `digits` decimals. */
function spread(values: readonly number[], digits: number): string {
  const sorted = [...values].sort((a, b) => a - b);
  const f = (n: number) => n.toFixed(digits);
  return `${f(median(sorted))} (${f(sorted[0] ?? Number.NaN)}-${f(sorted.at(-1) ?? Number.NaN)})`;
}

/** Runs one round: every child gets `go <key>` at once; factory calls are read from the counter. */
async function round(children: readonly LineChild[], raw: Redis, counter: string, key: string) {
  const before = Number((await raw.get(counter)) ?? 0);
  const results = (await Promise.all(
    children.map((c) => c.request(`go ${key}`, ROUND_TIMEOUT_MS)),
  )) as StampedeRound[];
  // Every factory awaited its INCR before returning a value, so the counter is complete here.
  const after = Number((await raw.get(counter)) ?? 0);
  const started = results.map((r) => r.startedAt);
  return {
    calls: after - before,
    wallMs: Math.max(...results.map((r) => r.finishedAt)) - Math.min(...started),
    startSpreadMs: Math.max(...started) - Math.min(...started),
    failed: results.reduce((sum, r) => sum + r.failed, 0),
  };
}

/** ROUNDS measured rounds (after one warm-up) of `instances` processes of `library`. */
async function stampedes(
  url: string,
  raw: Redis,
  prefix: string,
  library: Library,
  instances: number,
): Promise<Measured[]> {
  const id = `${library.env.LIBRARY}:${library.env.LOCK_TIMEOUT_MS ?? 'default'}:${instances}`;
  const counter = `${prefix}runs:${id}`;
  const children = Array.from({ length: instances }, () =>
    spawnLineChild(STAMPEDE_CHILD, {
      ...library.env,
      URL: url,
      PREFIX: prefix,
      COUNTER: counter,
      CALLERS: String(CALLERS / instances),
      WORK_MS: String(WORK_MS),
      ROUNDS: String(ROUNDS + 1),
    }),
  );
  try {
    await Promise.all(children.map((c) => c.ready(READY_TIMEOUT_MS)));
    await round(children, raw, counter, `warm:${id}`);
    const measured: Measured[] = [];
    for (let r = 0; r < ROUNDS; r++) measured.push(await round(children, raw, counter, `cold:${id}:${r}`));
    return measured;
  } finally {
    await Promise.all(children.map((c) => stopChild(c.process)));
  }
}

/** Runs the cross-process stampede benchmark against the Redis at `url`. */
export async function benchCacheStampede(url: string): Promise<void> {
  const prefix = `perf-bench-stampede:${randomUUID()}:`;
  const raw = new Redis(url);
  const rows = [];
  try {
    for (const library of LIBRARIES) {
      for (const instances of INSTANCES) {
        const measured = await stampedes(url, raw, prefix, library, instances);
        rows.push({
          library: library.name,
          processes: instances,
          'callers each': CALLERS / instances,
          'factory calls': spread(
            measured.map((m) => m.calls),
            0,
          ),
          'ms until every caller has its value': spread(
            measured.map((m) => m.wallMs),
            1,
          ),
          'ms between first and last process start': spread(
            measured.map((m) => m.startSpreadMs),
            1,
          ),
          'failed calls': measured.reduce((sum, m) => sum + m.failed, 0),
        });
      }
    }
  } finally {
    await raw.quit();
    await deleteKeys(url, prefix);
  }
  console.log(
    `\ncache stampede across processes: ${CALLERS.toLocaleString('en-US')} concurrent getOrSet in all on one cold key, ${WORK_MS} ms factory, each instance its own process; median (min-max) of ${ROUNDS} rounds`,
  );
  console.table(rows);
}

if (import.meta.main) await benchCacheStampede(process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379');
