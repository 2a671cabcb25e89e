/**
 * The error-budget evaluation at 1,000 operations: time per evaluation and Redis commands per
 * evaluation, against raw ioredis reading the same hashes (the I/O floor of any evaluator), at two
 * traffic levels (the commands and the time must not follow the traffic), plus the first, full load
 * and the memory-only judgement. Redis counts the commands itself (`total_commands_processed`), so
 * the commands a script runs inside count too.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { setLogLevel } from '../src/shared/logger.ts';
import { closeRedisClient, createRedisClient } from '../src/shared/redis.ts';
import { BudgetMonitor, ObjectiveTable } from '../src/slo/index.ts';
import { bucketKey, REREAD_MINUTES } from '../src/slo/redis-source.ts';
import { SLO_KEYS } from '../src/slo/semconv.ts';
import { median } from './lib.ts';
import { deleteKeys } from './redis.ts';

const OPERATIONS = 1000;
const ROUNDS = 30;
const MINUTE = 60_000;

/**
 * Writes every bucket an evaluation can read: each minute holds every operation with `runs` runs,
 * 0.5 % of them over target (a burn of 0.5 at 99 %: no alert fires), each hour and day the sum.
 */
async function fill(redis: Redis, prefix: string, last: number, runs: number): Promise<void> {
  const fieldsOf = (n: number) => {
    const fields: string[] = [];
    for (let i = 0; i < OPERATIONS; i++) {
      const name = `0:op_${i}`;
      fields.push(`c:${name}`, String(n), `b:${name}`, String(n / 200), `e:${name}`, '0');
    }
    return fields;
  };
  const pipeline = redis.pipeline();
  const put = (key: string, fields: string[]) => pipeline.hset(key, ...fields).expire(key, 3600);
  const [minute, hour, day] = [fieldsOf(runs), fieldsOf(runs * 60), fieldsOf(runs * 1440)];
  for (let m = last - 374; m <= last; m++) put(bucketKey(prefix, 'minute', m), minute);
  for (let h = Math.floor(last / 60) - 74; h <= Math.floor(last / 60); h++)
    put(bucketKey(prefix, 'hour', h), hour);
  for (let d = Math.floor(last / 1440) - 30; d <= Math.floor(last / 1440); d++)
    put(bucketKey(prefix, 'day', d), day);
  await pipeline.exec();
}

function monitorOn(redis: Redis | undefined, prefix: string, last: number): BudgetMonitor {
  return new BudgetMonitor({
    objectives: new ObjectiveTable({ objective: 0.99, periodDays: 30, errors: true }),
    settings: { minRuns: 10, burnRate: 'dynamic' },
    maxOperations: OPERATIONS + 10,
    alerts: { emit: () => undefined },
    ownService: 'bench',
    hasTarget: () => true,
    ...(redis
      ? {
          redis: {
            client: Promise.resolve(redis),
            prefix,
            list: `${prefix}performance_alerts`,
            listMax: 1000,
            leaseMs: 60_000,
          },
        }
      : {}),
    now: () => (last + 1) * MINUTE + 10_000,
  });
}

async function timeOf(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Commands Redis counts as processed: the server's own figure, not the client's. */
async function processed(redis: Redis): Promise<number> {
  const info = await redis.info('stats');
  return Number(/total_commands_processed:(\d+)/.exec(info)?.[1] ?? 0);
}

export async function benchBudgets(url: string): Promise<void> {
  setLogLevel('error');
  const redis = new Redis(url);
  // The monitor's connection is the telemetry's: a command timeout of REDIS_COMMAND_TIMEOUT_MS (1 s).
  const telemetryClient = await createRedisClient({
    url,
    commandTimeoutMs: 1000,
    connectionName: 'perf-bench:budgets',
    keepProcessAlive: false,
  });
  const last = Math.floor(Date.now() / MINUTE) - 1;
  console.log(`\nerror budgets: evaluating ${OPERATIONS} operations (median of ${ROUNDS} evaluations)`);
  const rows: Record<string, string | number>[] = [];
  for (const runs of [200, 200_000]) {
    const prefix = `perf-bench:${randomUUID()}:`;
    await fill(redis, prefix, last, runs);
    const monitor = monitorOn(telemetryClient, prefix, last);
    const before = await processed(redis);
    // The first load, with the event loop's longest stall while it runs.
    let stall = 0;
    let tickAt = performance.now();
    const watch = setInterval(() => {
      const now = performance.now();
      stall = Math.max(stall, now - tickAt - 5);
      tickAt = now;
    }, 5);
    const loadMs = await timeOf(() => monitor.evaluate());
    clearInterval(watch);
    const loadCommands = (await processed(redis)) - before - 1;
    if (monitor.evaluations !== 1) throw new Error('the first evaluation failed');
    if (monitor.figures('op_0')?.alerts.length !== 0)
      throw new Error('an alert fired: the data is not the intended one');
    // The reads of one refresh, sent by raw ioredis (no command timeout): the floor.
    const keys = [
      ...Array.from({ length: REREAD_MINUTES }, (_, i) => bucketKey(prefix, 'minute', last - i)),
      bucketKey(prefix, 'hour', Math.floor(last / 60)),
      bucketKey(prefix, 'hour', Math.floor(last / 60) - 1),
      bucketKey(prefix, 'day', Math.floor(last / 1440)),
      bucketKey(prefix, 'day', Math.floor(last / 1440) - 1),
      `${prefix}${SLO_KEYS.specs}${new Date(last * MINUTE).toISOString().slice(0, 10)}`,
      `${prefix}${SLO_KEYS.specs}${new Date((last - 1440) * MINUTE).toISOString().slice(0, 10)}`,
    ];
    const raw: number[] = [];
    const evaluation: number[] = [];
    const commands: number[] = [];
    let evalStall = 0;
    for (let round = 0; round < ROUNDS; round++) {
      raw.push(
        await timeOf(async () => {
          const pipeline = redis.pipeline();
          for (const key of keys) pipeline.hgetall(key);
          await pipeline.exec();
        }),
      );
      const start = await processed(redis);
      let at = performance.now();
      const watchEval = setInterval(() => {
        const now = performance.now();
        evalStall = Math.max(evalStall, now - at - 5);
        at = now;
      }, 5);
      evaluation.push(await timeOf(() => monitor.evaluate()));
      clearInterval(watchEval);
      commands.push((await processed(redis)) - start - 1);
    }
    await monitor.stop();
    const rawMs = median(raw);
    const evalMs = median(evaluation);
    rows.push({
      'runs per operation-minute': runs.toLocaleString('en-US'),
      'first load ms': loadMs.toFixed(1),
      'first load commands': loadCommands,
      'longest stall ms': stall.toFixed(0),
      'evaluation ms': evalMs.toFixed(2),
      'commands per evaluation': median(commands),
      'evaluation stall ms': evalStall.toFixed(0),
      'raw reads ms': rawMs.toFixed(2),
      'x raw reads': (evalMs / rawMs).toFixed(2),
    });
    await deleteKeys(url, prefix);
  }
  console.table(rows);

  // Memory-only: the judgement alone, over the same 1,000 operations (a day of minutes each).
  const memory = monitorOn(undefined, 'unused', last);
  for (let m = last - 1439; m <= last; m++) {
    for (let i = 0; i < OPERATIONS; i++) {
      memory.book.entry(`0:op_${i}`, undefined, `op_${i}`)?.addMinute(m, { runs: 100, over: 1, failed: 0 });
    }
  }
  const judged: number[] = [];
  for (let round = 0; round < ROUNDS; round++) judged.push(await timeOf(() => memory.evaluate()));
  console.log(
    `memory-only judgement of ${OPERATIONS} operations: ${median(judged).toFixed(2)} ms per evaluation, 0 Redis commands`,
  );
  redis.disconnect();
  await closeRedisClient(telemetryClient);
}
